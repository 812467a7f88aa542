//go:build e2e

package chaos

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/cmd/loadgen/load"
	"github.com/beamline/blockhost/host"
	fscap "github.com/beamline/blockhost/plugins/fs"
	"github.com/beamline/blockhost/sandbox"
)

const groupFS = "Filesystem faults under the fs_blob_* blocks (fscap.Faults)"

// fsEnv is a host with the blob blocks granted a root (and a fallback
// root), and a fault injector under them.
type fsEnv struct {
	s              *scenario
	h              *host.Host
	faults         *fscap.Faults
	root, fallback string
	base           int
}

// fsTimeout is the per-operation FS timeout of these scenarios (CP2).
const fsTimeout = 500 * time.Millisecond

func newFSEnv(t *testing.T, s *scenario, withFallback bool) *fsEnv {
	e := &fsEnv{s: s, faults: fscap.NewFaults(), root: t.TempDir()}
	grant := sandbox.FSGrant{Root: e.root}
	if withFallback {
		e.fallback = t.TempDir()
		grant.Fallback = e.fallback
	}
	cfg := host.Config{
		Blocks: map[string]host.BlockPolicy{
			"fs_blob_put": {FS: grant}, "fs_blob_get": {FS: grant}, "fs_blob_delete": {FS: grant},
		},
		FS: fscap.Config{ReadTimeout: fsTimeout, WriteTimeout: fsTimeout, DeleteTimeout: fsTimeout,
			Breaker: breakerSettings, Faults: e.faults},
	}
	e.h = s.newHost(cfg, "fs_blob_put", "fs_blob_get", "fs_blob_delete")
	// The capability must work before any fault is injected: fail loudly
	// (not skip) when it does not.
	data := "probe data"
	res, _, err := e.put("probe", data, 5000)
	if err != nil || res.Status != host.StatusSuccess {
		s.fatalf("the FS capability does not work yet (plugins/fs, examples/blocks/fs_blob_put): a plain put returned status=%s error_code=%s message=%q err=%v",
			res.Status, res.ErrorCode, res.ErrorMessage, err)
	}
	got, _, err := e.get("probe", 5000)
	if err != nil || got.Status != host.StatusSuccess || got.Outputs["data"] != data || got.Outputs["sha256"] != sum(data) {
		s.fatalf("the FS capability does not work yet: reading back a put blob returned status=%s error_code=%s message=%q outputs=%v err=%v",
			got.Status, got.ErrorCode, got.ErrorMessage, got.Outputs, err)
	}
	e.base = runtime.NumGoroutine()
	return e
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func (e *fsEnv) put(key, data string, timeoutMS int64) (host.StepResult, time.Duration, error) {
	return step(e.h, host.StepRequest{Type: "fs.blob_put", TimeoutMS: timeoutMS, RetryCount: intp(0),
		Inputs: map[string]string{"key": key, "data": data}})
}

func (e *fsEnv) get(key string, timeoutMS int64) (host.StepResult, time.Duration, error) {
	return step(e.h, host.StepRequest{Type: "fs.blob_get", TimeoutMS: timeoutMS, RetryCount: intp(0),
		Inputs: map[string]string{"key": key}})
}

// files lists the regular files under dir (blobs and leftovers).
func files(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func (e *fsEnv) breakerState() string {
	var states []string
	for _, b := range e.h.Breakers() {
		if b.Kind == "fs" {
			states = append(states, b.State)
		}
	}
	return strings.Join(states, ",")
}

// recovered checks that a put succeeds again once the fault is cleared:
// at once in CP1, within the breaker's recovery timeout + 500 ms in CP2.
func (e *fsEnv) recovered(cp2 bool) {
	cleared := time.Now()
	var firstOK time.Duration
	tries := 0
	for time.Since(cleared) < 10*time.Second {
		res, _, _ := e.put(fmt.Sprintf("recover-%d", tries), "ok", 5000)
		tries++
		if res.Status == host.StatusSuccess {
			firstOK = time.Since(cleared)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	bound := 250 * time.Millisecond
	if cp2 {
		bound = breakerSettings.RecoveryTimeout + 500*time.Millisecond
	}
	e.s.expect("recovers once the fault is gone", "a put succeeds within "+ms(bound), fmt.Sprintf("after %s (%d puts tried; breaker %q)", ms(firstOK), tries, e.breakerState()),
		firstOK > 0 && firstOK <= bound)
}

func TestFSSlowDisk(t *testing.T) {
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupFS, "slow disk (fsync 2 s, reads 300 ms)", cp2,
			"Every fsync of a blob being written takes 2 s, every read 300 ms (the delays ignore contexts, as a blocked system call would). "+
				"With CP2 the write timeout (500 ms here) ends a put in time; with CP1 (FS unbounded) the put waits for the disk. Reads slower than "+
				"usual but within the read timeout succeed in both.")
		e := newFSEnv(t, s, false)
		e.faults.Add(fscap.Fault{Op: fscap.OpSync, Delay: 2 * time.Second})
		res, took, err := e.put("slow", "payload", 10000)
		s.require(err, "put")
		if cp2 {
			s.expect("the write timeout fires", "put fails within 500 ms + 500 ms", fmt.Sprintf("%s/%s after %s", res.Status, res.ErrorCode, ms(took)),
				res.Status != host.StatusSuccess && took <= 2*fsTimeout)
		} else {
			s.expect("CP1 baseline: the put waits for the disk", "succeeds after ≥ 2 s", fmt.Sprintf("%s/%s after %s", res.Status, res.ErrorCode, ms(took)),
				res.Status == host.StatusSuccess && took >= 2*time.Second)
		}
		e.faults.Clear()
		e.faults.Add(fscap.Fault{Op: fscap.OpRead, Delay: 300 * time.Millisecond, Times: 1})
		got, took, err := e.get("probe", 5000)
		s.require(err, "get")
		s.expect("a slow read within the timeout succeeds", "success, ≥ 300 ms", fmt.Sprintf("%s/%s after %s", got.Status, got.ErrorCode, ms(took)),
			got.Status == host.StatusSuccess && took >= 300*time.Millisecond)
		e.faults.Clear()
		// Wait for the put stuck in its 2 s fsync, then look at what it left.
		time.Sleep(2 * time.Second)
		after, _, _ := e.get("slow", 5000)
		s.figure("the blob of the timed-out put afterwards", fmt.Sprintf("get: %s/%s; files under root: %v", after.Status, after.ErrorCode, files(e.root)))
		e.recovered(cp2)
		s.goroutinesSettle(e.base, 10, "once warm")
	})
}

func TestFSIOErrorsBreakerAndFallback(t *testing.T) {
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupFS, "I/O errors: breaker and fallback root", cp2,
			"Creating any file under the primary root fails with EIO. 10 puts in a row (retry_count 0): with CP2 the root's breaker (5 consecutive "+
				"failures, recovery 1 s) opens and the grant's fallback root takes the writes; with CP1 (no breaker) every put fails. Then the fault "+
				"is cleared: puts succeed again, and every blob acknowledged during the fault can be read back.")
		e := newFSEnv(t, s, true)
		e.faults.Add(fscap.Fault{Op: fscap.OpCreate, Root: e.root, Err: syscall.EIO})
		var rs []host.StepResult
		acked := map[string]string{}
		for i := range 10 {
			key, data := fmt.Sprintf("k%d", i), fmt.Sprintf("data %d", i)
			res, _, err := e.put(key, data, 5000)
			s.require(err, "put")
			rs = append(rs, res)
			if res.Status == host.StatusSuccess {
				acked[key] = data
			}
		}
		failed := 10 - len(acked)
		if cp2 {
			s.expect("breaker opens and the fallback takes writes", "≤ 5 puts fail, the rest succeed", fmt.Sprintf("%d fail (%s), breaker %q, fallback holds %v",
				failed, codes(rs), e.breakerState(), files(e.fallback)), failed <= 5 && len(acked) >= 5)
		} else {
			s.expect("CP1 baseline: every put fails", "10 of 10 fail", fmt.Sprintf("%d fail (%s)", failed, codes(rs)), failed == 10)
		}
		e.faults.Clear()
		e.recovered(cp2)
		lost := 0
		for key, data := range acked {
			got, _, _ := e.get(key, 5000)
			if got.Status != host.StatusSuccess || got.Outputs["sha256"] != sum(data) {
				lost++
			}
		}
		s.expect("no acknowledged blob lost", "0", fmt.Sprintf("%d of %d", lost, len(acked)), lost == 0)
		s.goroutinesSettle(e.base, 10, "once warm")
	})
}

func TestFSHungSyscall(t *testing.T) {
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupFS, "hung write (a system call that never returns)", cp2,
			"Every write to a blob file blocks until released. 20 puts at once with timeout_ms 3000, retry_count 0: with CP2 each ends by the write "+
				"timeout (500 ms) or at once when the root's stuck-goroutine bound (16) is reached; with CP1 (FS unbounded) each ends only at its "+
				"attempt deadline, 3 s after it started (20 puts through 8 io slots: up to 3 waves). Goroutines stay bounded while the calls hang and return to the baseline once they are released.")
		e := newFSEnv(t, s, false)
		e.faults.Add(fscap.Fault{Op: fscap.OpWrite, Hang: true})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var worst time.Duration
		var rs []host.StepResult
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, took, err := e.put(fmt.Sprintf("hung-%d", i), "data", 3000)
				if err != nil {
					res.ErrorMessage = err.Error()
				}
				mu.Lock()
				defer mu.Unlock()
				worst = max(worst, took)
				rs = append(rs, res)
			}()
		}
		wg.Wait()
		during := runtime.NumGoroutine()
		ok := countStatus(rs, host.StatusSuccess)
		// CP1: each attempt gets its own 3 s from when it starts, and the
		// queue wait is not counted: 20 puts through the io pool's 8 slots
		// end in up to 3 waves.
		bound := 3*(3*time.Second) + 250*time.Millisecond
		if cp2 {
			bound = 2*fsTimeout + 250*time.Millisecond
		}
		s.expect("no put succeeds while writes hang", "0 of 20", fmt.Sprintf("%d (%s)", ok, codes(rs)), ok == 0)
		// Nobody cancelled these steps: a deadline is a timeout.
		byUser := countStatus(rs, host.StatusError, abi.CancelledByUser) + countStatus(rs, host.StatusCancelled)
		s.expect("a deadline is reported as a timeout, not a user cancellation", "0 steps cancelled/CANCELLED_BY_USER", fmt.Sprint(byUser), byUser == 0)
		s.expect("every put ends in time", "slowest ≤ "+ms(bound), ms(worst), worst <= bound)
		s.expect("goroutines bounded while calls hang", fmt.Sprintf("≤ %d + 16 stuck + 20", e.base), fmt.Sprintf("%d (%d calls hung)", during, e.faults.Hung()),
			during <= e.base+16+20)
		e.faults.Release()
		e.faults.Clear()
		e.recovered(cp2)
		s.goroutinesSettle(e.base, 10, "once warm")
	})
}

func TestFSDiskFull(t *testing.T) {
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupFS, "disk full (ENOSPC)", cp2,
			"Every write fails with ENOSPC. A 1 MB put fails cleanly: nothing of it is visible afterwards (no blob, no temp file left under the "+
				"root), and puts succeed again once space is back.")
		e := newFSEnv(t, s, false)
		before := files(e.root)
		e.faults.Add(fscap.Fault{Op: fscap.OpWrite, Err: syscall.ENOSPC})
		res, took, err := e.put("full", load.Payload(1_000_000), 5000)
		s.require(err, "put")
		s.expect("the put fails", "error", fmt.Sprintf("%s/%s after %s: %s", res.Status, res.ErrorCode, ms(took), truncate(res.ErrorMessage, 120)),
			res.Status == host.StatusError)
		e.faults.Clear()
		got, _, _ := e.get("full", 5000)
		after := files(e.root)
		s.expect("nothing partial is visible", "get fails, no new file under the root", fmt.Sprintf("get %s/%s; files before %v, after %v",
			got.Status, got.ErrorCode, before, after), got.Status != host.StatusSuccess && len(after) == len(before))
		e.recovered(cp2)
		s.goroutinesSettle(e.base, 10, "once warm")
	})
}
