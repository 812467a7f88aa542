package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/internal/testblocks"
	"github.com/beamline/blockhost/sandbox"
)

// hostileCases lists the cases, in the order they run.
func hostileCases() []hostileCase {
	return []hostileCase{
		{name: "loop forever", cp1: true, timeout: stepTimeout, run: loopForever},
		{name: "loop cancelled", run: loopCancelled},
		{name: "sleep forever", cp1: true, timeout: stepTimeout, run: sleepForever},
		{name: "initializer never returns", cp1: true, timeout: stepTimeout, run: initNeverReturns},
		// Each stack overflow makes the host allocate some 160 MB of call
		// stack; the good steps alongside feel it.
		{name: "recursion without loops", goodBound: time.Second, run: recursion},
		{name: "memory bomb", run: memoryBomb},
		{name: "memory.grow to the limit", run: growToLimit},
		{name: "output flood", run: outputFlood},
		{name: "log flood", run: logFlood},
		{name: "bad pointers to every import", run: badPointers},
		{name: "trap after host calls", run: trapAfter},
		{name: "trap mid-write", cp1: true, timeout: stepTimeout, run: midWrite},
		{name: "handle exhaustion", cp1: true, run: handleExhaustion},
		{name: "path traversal", run: pathTraversal},
		{name: "tenant id traversal", run: tenantTraversal},
		{name: "SSRF", cp1: true, run: ssrf},
		{name: "SSRF by redirect", cp1: true, run: ssrfRedirect},
		{name: "module over the size limit", run: moduleTooLarge},
		{name: "module slow to compile", run: slowCompile},
	}
}

// loopForever: an endless loop calling nothing ends at the step's
// deadline.
func loopForever(t *testing.T, x *trial) {
	res, took := x.exec(t, host.StepRequest{Type: "test.loop", TimeoutMS: stepTimeout.Milliseconds()})
	x.expectTimeout(t, res, took, stepTimeout, "while running")
}

// loopCancelled: an endless loop with a long deadline ends when the step
// is cancelled (CP2 cancellation).
func loopCancelled(t *testing.T, x *trial) {
	id := x.stepID("loop-cancelled")
	done := make(chan host.StepResult, 1)
	go func() {
		res, err := x.h.Execute(context.Background(), host.StepRequest{Type: "test.loop", TimeoutMS: 60000,
			RetryCount: intp(0), Context: host.BlockContext{StepID: id}})
		if err != nil {
			res.ErrorMessage = "not admitted: " + err.Error()
		}
		done <- res
	}()
	eventually(t, 5*time.Second, func() string {
		if err := x.h.Cancel(id); err != nil {
			return "cancelling: " + err.Error()
		}
		return ""
	})
	cancelled := time.Now()
	select {
	case res := <-done:
		expect(t, res, host.StatusCancelled, abi.CancelledByUser, "cancelled")
		assert.Less(t, time.Since(cancelled), deadlineSlack, "the step ended long after its cancellation")
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled step did not end")
	}
}

// sleepForever: a sleep of 11 days (WASI poll_oneoff) ends at the step's
// deadline.
func sleepForever(t *testing.T, x *trial) {
	res, took := x.exec(t, host.StepRequest{Type: "test.sleep", TimeoutMS: stepTimeout.Milliseconds(),
		Inputs: map[string]string{"ms": "1000000000"}})
	x.expectTimeout(t, res, took, stepTimeout, "while running")
}

// initNeverReturns: a block whose _initialize loops forever, with
// isolation step (a new instance per step), fails each step at its
// deadline while starting the instance.
func initNeverReturns(t *testing.T, x *trial) {
	res, took := x.exec(t, host.StepRequest{Type: "test.initloop", TimeoutMS: stepTimeout.Milliseconds()})
	x.expectTimeout(t, res, took, stepTimeout, "while starting an instance")
}

// recursion: endless recursion without a loop instruction exhausts the
// call stack: a trap, not retried. A bounded recursion 1000 deep works.
// Under the race detector, which makes each overflow cost seconds and
// does not see into guest code, only the shape with the largest frames
// runs.
func recursion(t *testing.T, x *trial) {
	shapes := []string{"direct", "indirect", "wide"}
	if raceEnabled {
		shapes = []string{"wide"}
	}
	for _, how := range shapes {
		t.Run(how, func(t *testing.T) {
			res, _ := x.exec(t, host.StepRequest{Type: "test.recurse", RetryCount: intp(2),
				Inputs: map[string]string{"how": how}})
			expect(t, res, host.StatusError, abi.ExecutionFailed, "block trapped", "stack overflow")
			assert.Zero(t, res.RetriesUsed, "a trap is not retried")
		})
	}
	res, _ := x.exec(t, host.StepRequest{Type: "test.recurse", Inputs: map[string]string{"how": "counted"}})
	expect(t, res, host.StatusSuccess, abi.None)
	assert.Equal(t, map[string]string{"depth": "1000"}, res.Outputs)
}

// memoryBomb: the Go runtime allocating until memory.grow fails aborts
// (a trap after the failed grow): QUOTA_EXCEEDED, not retried.
func memoryBomb(t *testing.T, x *trial) {
	res, _ := x.exec(t, host.StepRequest{Type: "test.membomb", RetryCount: intp(2),
		Inputs: map[string]string{"mb": "1"}})
	expect(t, res, host.StatusError, abi.QuotaExceeded, "memory limit of "+strconv.Itoa(memoryPages)+" pages")
	assert.Zero(t, res.RetriesUsed, "hitting the memory limit is not retried")
}

// growToLimit: memory.grow one page at a time gets exactly the memory
// limit, then -1 (and -1 for a 4 GiB request); a block that carries on
// succeeds, one that traps then fails with QUOTA_EXCEEDED.
func growToLimit(t *testing.T, x *trial) {
	res, _ := x.exec(t, host.StepRequest{Type: "test.grow", Inputs: map[string]string{"end": "return"}})
	expect(t, res, host.StatusSuccess, abi.None)
	assert.Equal(t, map[string]string{"pages": strconv.Itoa(memoryPages), "refused": "-1"}, res.Outputs)

	res, _ = x.exec(t, host.StepRequest{Type: "test.grow", Inputs: map[string]string{"end": "trap"}})
	expect(t, res, host.StatusError, abi.QuotaExceeded, "memory limit of "+strconv.Itoa(memoryPages)+" pages")
}

// outputFlood: outputs past the step's cap, set at once or streamed
// through a handle, fail the step with QUOTA_EXCEEDED.
func outputFlood(t *testing.T, x *trial) {
	for _, via := range []string{"set", "writer"} {
		t.Run(via, func(t *testing.T) {
			res, _ := x.exec(t, host.StepRequest{Type: "test.flood",
				Inputs: map[string]string{"bytes": strconv.Itoa(2 * maxOutputBytes), "via": via}})
			expect(t, res, host.StatusError, abi.QuotaExceeded,
				"output limit of "+strconv.Itoa(maxOutputBytes)+" bytes exceeded")
		})
	}
	// Eight writers open at once, each asked for half the cap: what they
	// hold together is refused at the cap, not at eight times it.
	t.Run("writers", func(t *testing.T) {
		res, _ := x.exec(t, host.StepRequest{Type: "test.flood", Inputs: map[string]string{
			"bytes": strconv.Itoa(maxOutputBytes / 2), "via": "writers", "writers": "8"}})
		expect(t, res, host.StatusError, abi.QuotaExceeded,
			"output limit of "+strconv.Itoa(maxOutputBytes)+" bytes exceeded")
		var wrote int
		at := strings.Index(res.ErrorMessage, "wrote ")
		require.GreaterOrEqual(t, at, 0, res.ErrorMessage)
		_, err := fmt.Sscanf(res.ErrorMessage[at:], "wrote %d bytes in all", &wrote)
		require.NoError(t, err, res.ErrorMessage)
		assert.LessOrEqual(t, wrote, maxOutputBytes, "bytes the writers held when refused")
		assert.Greater(t, wrote, maxOutputBytes/2)
	})
}

// logFlood: 1 MiB of log, stdout or stderr is cut at the log cap with one
// truncation marker; the step still succeeds.
func logFlood(t *testing.T, x *trial) {
	for _, via := range []string{"log", "stdout", "stderr"} {
		t.Run(via, func(t *testing.T) {
			id := x.stepID("log-flood-" + via)
			res, _ := x.exec(t, host.StepRequest{Type: "test.flood", Context: host.BlockContext{StepID: id},
				Inputs: map[string]string{"log_bytes": strconv.Itoa(1 << 20), "log_via": via}})
			expect(t, res, host.StatusSuccess, abi.None)
			logged := x.logs.of(id)
			assert.Equal(t, maxLogBytes, logged.bytes, "bytes of guest %s logged", via)
			assert.Equal(t, 1, logged.truncated, "truncation markers")
		})
	}
	// The cap is per step: three attempts of 40 KiB each log 64 KiB in all.
	t.Run("retries", func(t *testing.T) {
		id := x.stepID("log-flood-retries")
		retries := 2
		res, _ := x.exec(t, host.StepRequest{Type: "test.flood", Context: host.BlockContext{StepID: id},
			RetryCount: &retries,
			Inputs:     map[string]string{"log_bytes": strconv.Itoa(40 << 10), "fail": "NETWORK_ERROR"}})
		expect(t, res, host.StatusError, abi.NetworkError, "failing with NETWORK_ERROR as asked")
		assert.Equal(t, 2, res.RetriesUsed, "retries")
		logged := x.logs.of(id)
		assert.Equal(t, maxLogBytes, logged.bytes, "bytes logged over the step's attempts")
		assert.Equal(t, 1, logged.truncated, "truncation markers")
	})
}

// pointerFns are the functions of module "blockhost" that take a pointer:
// how many pointer/length pairs, and whether they consume a handle.
var pointerFns = []struct {
	name     string
	pairs    int
	consumes bool
}{
	{abi.FnInputLen, 1, false}, {abi.FnInputRead, 2, false}, {abi.FnInputOpen, 1, false},
	{abi.FnInputKeys, 1, false}, {abi.FnInputsJSON, 1, false}, {abi.FnOutputSet, 2, false},
	{abi.FnOutputOpen, 1, false}, {abi.FnOutputFromHandle, 1, true}, {abi.FnContextGet, 2, false},
	{abi.FnConfigGet, 2, false}, {abi.FnLog, 1, false}, {abi.FnErrorSet, 1, false},
	{abi.FnLastError, 1, false}, {abi.FnHandleRead, 1, false}, {abi.FnHandleWrite, 1, false},
	{abi.FnHTTPRequest, 1, true}, {abi.FnHTTPResponseMeta, 1, false}, {abi.FnBlobOpenRead, 1, false},
	{abi.FnBlobOpenWrite, 1, false}, {abi.FnBlobPutFrom, 1, true}, {abi.FnBlobDelete, 1, false},
	{abi.FnBlobStat, 2, false}, {abi.FnBlobList, 2, false},
}

// badPairs are the names of the invalid pairs of testdata/badptr.wat.
var badPairs = []string{"wrap", "huge", "end", "past", "max", "mid"}

// badHandles are the bogus handles badptr.wat passes to handle_size and
// handle_close.
var badHandles = []string{"0", "-1", "2147483647", "65"}

// badPointers: every function taking a pointer answers every invalid pair
// with -BAD_POINTER, never traps and acts on none of those calls; the
// others refuse bogus handles.
func badPointers(t *testing.T, x *trial) {
	var names []string
	for _, f := range pointerFns {
		names = append(names, f.name)
	}
	names = append(names, abi.FnHandleSize, abi.FnHandleClose, abi.FnBufferNew)
	require.ElementsMatch(t, abi.HostFunctions, names, "the probes cover every host function")

	id := x.stepID("badptr")
	res, _ := x.exec(t, host.StepRequest{Type: "test.badptr", Context: host.BlockContext{StepID: id},
		Inputs: map[string]string{"k": "an input the probes never reach"}})
	require.Equal(t, host.StatusSuccess, res.Status,
		"the block must run to its end: no trap, no error recorded (%s: %s)", res.ErrorCode, res.ErrorMessage)
	out := res.Outputs
	badPointer, badHandle := wantStatus(abi.BadPointer), wantStatus(abi.BadHandle)
	want := 0
	check := func(key, want string) {
		t.Helper()
		got, ok := out[key]
		if assert.True(t, ok, "no output %s", key) {
			assert.Equal(t, want, got, key)
		}
	}
	for _, f := range pointerFns {
		for _, p := range badPairs {
			check(f.name+"/"+p, badPointer)
			want++
			if f.pairs == 2 {
				check(f.name+"/"+p+"/p1", badPointer)
				check(f.name+"/"+p+"/p2", badPointer)
				want += 2
			}
			if f.consumes {
				check(f.name+"/"+p+"/close", badHandle)
				want++
			}
		}
		edge, ok := out[f.name+"/edge"]
		want++
		if assert.True(t, ok, "no output %s/edge", f.name) {
			_, err := strconv.Atoi(edge)
			assert.NoError(t, err, "%s/edge", f.name)
			assert.NotEqual(t, badPointer, edge, "%s with the valid pair (65536, 0)", f.name)
		}
	}
	for _, h := range badHandles {
		check(abi.FnHandleSize+"/"+h, badHandle)
		check(abi.FnHandleClose+"/"+h, badHandle)
		want += 2
	}
	n, err := strconv.Atoi(out[abi.FnBufferNew])
	assert.NoError(t, err)
	assert.Positive(t, n, "buffer_new after all that")
	assert.Contains(t, out[abi.FnLastError], "outside linear memory", "last_error after a bad pointer")
	want += 2
	assert.Len(t, out, want, "outputs: no call with a bad pointer set one")
	// Only the edge control (an empty message) may have been logged.
	logged := x.logs.of(id)
	assert.LessOrEqual(t, logged.entries, 1, "log entries")
	assert.Zero(t, logged.bytes, "bytes logged")
}

// trapAfter: a trap right after host calls that succeeded fails the step
// with EXECUTION_FAILED, returns no output and commits nothing.
func trapAfter(t *testing.T, x *trial) {
	blob := filepath.Join(x.root, "trapafter", "blob.bin")
	for _, how := range []string{"input", "output", "writer", "blob", "memory", "reported"} {
		t.Run(how, func(t *testing.T) {
			res, _ := x.exec(t, host.StepRequest{Type: "test.trapafter", RetryCount: intp(2),
				Inputs: map[string]string{"how": how, "data": "bytes the block reads"}})
			trap := "wasm error: unreachable"
			if how == "memory" {
				trap = "out of bounds memory access"
			}
			expect(t, res, host.StatusError, abi.ExecutionFailed, "block trapped", trap)
			assert.Zero(t, res.RetriesUsed, "a trap is not retried")
			assert.NoFileExists(t, blob, "a trap commits no blob")
			x.settled(t)
		})
	}
}

// midWrite: a block with an output, an output handle, a blob handle and a
// buffer written and an HTTP response open ends in every way a call can
// end. Only a success commits; whatever ends the call, every handle is
// released: no temporary file, no open file, no HTTP connection left.
func midWrite(t *testing.T, x *trial) {
	const n = 65536
	cases := []struct {
		end     string
		status  host.Status
		code    abi.Code
		message []string
	}{
		{"return", host.StatusSuccess, abi.None, nil},
		{"fail", host.StatusError, abi.ExecutionFailed, []string{"midwrite: failing with handles open"}},
		{"trap", host.StatusError, abi.ExecutionFailed, []string{"block trapped", "out of bounds memory access"}},
		{"exit", host.StatusError, abi.ExecutionFailed, []string{"block exited with code 3"}},
		{"panic", host.StatusError, abi.ExecutionFailed, []string{"block trapped", "unrecovered panic with handles open"}},
		{"sleep", host.StatusTimeout, abi.CancelledByTimeout, nil},
		{"read", host.StatusTimeout, abi.CancelledByTimeout, nil},
	}
	for _, c := range cases {
		t.Run(c.end, func(t *testing.T) {
			key := "midwrite/" + c.end + ".bin"
			req := host.StepRequest{Type: "test.midwrite", Inputs: map[string]string{
				"key": key, "bytes": strconv.Itoa(n), "url": x.stall.URL + "/stall", "end": c.end}}
			if c.status == host.StatusTimeout {
				req.TimeoutMS = stepTimeout.Milliseconds()
			}
			res, took := x.exec(t, req)
			if c.status == host.StatusTimeout {
				x.expectTimeout(t, res, took, stepTimeout, "while running")
			} else {
				expect(t, res, c.status, c.code, c.message...)
			}
			blob := filepath.Join(x.root, filepath.FromSlash(key))
			switch c.end {
			case "return":
				assert.Equal(t, map[string]string{"early": "1", "partial": strings.Repeat("o", n)}, res.Outputs)
				data, err := os.ReadFile(blob)
				assert.NoError(t, err, "the blob left open is committed at the end of a successful step")
				assert.Equal(t, strings.Repeat("b", n), string(data))
			case "fail":
				// ABI.md and the host disagree on whether a block that
				// fails without trapping commits what it left open: only
				// the release of every handle is checked.
			default:
				assert.NoFileExists(t, blob, "a call that ends abnormally commits no blob")
			}
			x.settled(t)
		})
	}
}

// handleExhaustion: opening handles of every kind until refused stops at
// the limit; the step fails with QUOTA_EXCEEDED; every handle, trap or
// not, is released and no blob is committed.
func handleExhaustion(t *testing.T, x *trial) {
	limit := "too many open handles (limit " + strconv.Itoa(maxHandles) + ")"
	// The open past the limit fails and the step goes on (ABI.md 8): the
	// handles block reports how many it got and the refusal.
	res, _ := x.exec(t, host.StepRequest{Type: "test.handles"})
	expect(t, res, host.StatusSuccess, abi.None)
	assert.Equal(t, strconv.Itoa(maxHandles), res.Outputs["opened"])
	assert.Equal(t, strconv.Itoa(int(abi.LimitExceeded.Status())), res.Outputs["status"])

	hogDir := filepath.Join(x.root, "hog")
	for _, kind := range []string{"input", "output", "blob_read", "blob_write", "http"} {
		for _, end := range []string{"report", "trap"} {
			if end == "trap" && (kind == "input" || kind == "output") {
				continue
			}
			t.Run(kind+"/"+end, func(t *testing.T) {
				served := x.stall.served.Load()
				res, _ := x.exec(t, host.StepRequest{Type: "test.hog", Inputs: map[string]string{
					"kind": kind, "end": end, "key": "hogsrc.txt", "url": x.stall.URL + "/stall"}})
				if kind == "http" {
					// The request past the handle limit is refused before it is sent.
					assert.Equal(t, int64(maxHandles), x.stall.served.Load()-served, "requests the server received")
				}
				if end == "trap" {
					expect(t, res, host.StatusError, abi.ExecutionFailed, "block trapped")
				} else {
					expect(t, res, host.StatusError, abi.QuotaExceeded,
						"opened "+strconv.Itoa(maxHandles)+" "+kind+" handles", "LIMIT_EXCEEDED", limit)
				}
				assert.Empty(t, regularFiles(hogDir), "no blob is committed by a failed step")
				x.settled(t)
			})
		}
	}
}

// escapeResult is one call of the escape block.
type escapeResult struct {
	Op         string `json:"op"`
	Arg        string `json:"arg"`
	Status     int    `json:"status"`
	Detail     string `json:"detail"`
	HTTPStatus int    `json:"http_status"`
	Data       string `json:"data"`
}

// escape runs the escape block (or one loaded under another name) and
// returns its results by argument, in call order.
func (x *trial) escape(t *testing.T, typ, tenant string, keys, urls []string) map[string][]escapeResult {
	t.Helper()
	in := map[string]string{}
	if keys != nil {
		b, _ := json.Marshal(keys)
		in["keys"] = string(b)
	}
	if urls != nil {
		b, _ := json.Marshal(urls)
		in["urls"] = string(b)
	}
	res, _ := x.exec(t, host.StepRequest{Type: typ, Inputs: in, Context: host.BlockContext{TenantID: tenant}})
	require.Equal(t, host.StatusSuccess, res.Status, "%s: %s", res.ErrorCode, res.ErrorMessage)
	var results []escapeResult
	require.NoError(t, json.Unmarshal([]byte(res.Outputs["results"]), &results))
	byArg := map[string][]escapeResult{}
	for _, r := range results {
		byArg[r.Arg] = append(byArg[r.Arg], r)
		for _, leak := range []string{strings.TrimSpace(secretText), "root:"} {
			assert.NotContains(t, r.Data, leak, "%s %q got data it must not", r.Op, r.Arg)
		}
	}
	return byArg
}

// snapshot describes every file under dir: path, size, mode and mtime.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files[p] = fi.Mode().String() + " " + strconv.FormatInt(fi.Size(), 10) + " " + fi.ModTime().String()
		return nil
	}))
	return files
}

// blobOps are the calls the escape block makes for each key, in order.
var blobOps = []string{abi.FnBlobOpenRead, abi.FnBlobOpenWrite, abi.FnBlobPutFrom,
	abi.FnBlobStat, abi.FnBlobList, abi.FnBlobDelete}

// pathTraversal: keys that climb out of the blob root (.., absolute
// paths, backslashes, symbolic links out of the root) are denied; other
// malformed keys are refused; nothing outside the root is read, written
// or deleted.
func pathTraversal(t *testing.T, x *trial) {
	denied := []string{
		"../outside/secret.txt", "a/../../outside/secret.txt", "..", "../",
		"/etc/passwd", x.secret, `..\outside\secret.txt`, `C:\secret.txt`,
		"dirlink/secret.txt", // a directory symlink out of the root
	}
	malformed := []string{
		"%2e%2e/outside/secret.txt", "~/secret.txt", "secret.txt\n", "..%2f..%2foutside",
		sandbox.TempPrefix + "0123456789abcdef", // a write in progress
		strings.Repeat("a", sandbox.MaxBlobKeyLen+1),
		strings.Repeat("a/", abi.MaxKeyLen/2) + "a", // over the ABI's key limit
	}
	// ABI.md 4.7 lists these as DENIED; the jail calls them malformed.
	deniedOrMalformed := []string{"a//b", "a/./b", "./secret.txt", "a\x00b"}
	before := snapshot(t, x.outside)
	keys := slices.Concat(denied, malformed, deniedOrMalformed, []string{"link", ""})
	got := x.escape(t, "test.escape", "", keys, nil)

	for _, k := range keys {
		if assert.Len(t, got[k], len(blobOps), "calls for key %q", k) {
			for i, r := range got[k] {
				assert.Equal(t, blobOps[i], r.Op, "call %d for key %q", i, k)
			}
		}
	}
	denyStatus, invalidStatus := int(abi.Denied.Status()), int(abi.InvalidArgument.Status())
	for _, k := range denied {
		for _, r := range got[k] {
			assert.Equal(t, denyStatus, r.Status, "%s %q: %s", r.Op, k, r.Detail)
		}
	}
	for _, k := range malformed {
		for _, r := range got[k] {
			assert.Equal(t, invalidStatus, r.Status, "%s %q: %s", r.Op, k, r.Detail)
		}
	}
	for _, k := range deniedOrMalformed {
		for _, r := range got[k] {
			assert.Contains(t, []int{denyStatus, invalidStatus}, r.Status, "%s %q: %s", r.Op, k, r.Detail)
		}
	}
	// "link" is a symbolic link to the secret: reading through it is
	// denied (writing replaces the link itself, inside the root).
	if link := got["link"]; len(link) > 0 {
		assert.Equal(t, denyStatus, link[0].Status, "reading through a symlink out of the root: %s", link[0].Detail)
	}
	// The empty key is malformed, except as a list prefix (every blob).
	for _, r := range got[""] {
		if r.Op != abi.FnBlobList {
			assert.Equal(t, invalidStatus, r.Status, "%s of the empty key: %s", r.Op, r.Detail)
		}
	}

	data, err := os.ReadFile(x.secret)
	require.NoError(t, err)
	assert.Equal(t, secretText, string(data), "the file outside the root changed")
	assert.Equal(t, before, snapshot(t, x.outside), "something outside the root changed")
	x.settled(t)
}

// tenantTraversal: with a per-tenant blob space, a tenant id that climbs
// out of the root (or is empty) is denied for every call; a plain tenant
// works in its own directory.
func tenantTraversal(t *testing.T, x *trial) {
	before := snapshot(t, x.outside)
	for _, tenant := range []string{"../outside", "..", "", "a/b", `..\outside`} {
		got := x.escape(t, "test.escape_tenant", tenant, []string{"secret.txt"}, nil)
		for _, r := range got["secret.txt"] {
			assert.Equal(t, int(abi.Denied.Status()), r.Status, "tenant %q: %s: %s", tenant, r.Op, r.Detail)
		}
	}
	got := x.escape(t, "test.escape_tenant", "plain", []string{"mine.txt"}, nil)
	var statuses []int
	for _, r := range got["mine.txt"] {
		statuses = append(statuses, r.Status)
	}
	assert.Equal(t, []int{int(abi.NotFound.Status()), 0, 0, 0, 0, 0}, statuses, "a plain tenant's calls: %+v", got)
	assert.Equal(t, before, snapshot(t, x.outside), "something outside the root changed")
	x.settled(t)
}

// ssrf: requests to loopback, private, link-local and metadata
// addresses, in every spelling, and to other schemes are denied by the
// egress rule (the grant allows every public http and https URL); the
// internal service is never reached.
func ssrf(t *testing.T, x *trial) {
	p := x.internal.port()
	urls := []string{
		x.internal.URL + "/",
		"http://localhost:" + p + "/",
		"http://[::1]:" + p + "/",
		"http://[::ffff:127.0.0.1]:" + p + "/",
		"http://[::ffff:7f00:1]:" + p + "/",
		"http://[64:ff9b::7f00:1]:" + p + "/",
		"http://[2002:7f00:1::]:" + p + "/",
		"http://0.0.0.0:" + p + "/",
		"http://[::]:" + p + "/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[fe80::1]/",
		"http://[fd00::1]/",
		"http://10.0.0.1/",
		"http://172.16.0.1/",
		"http://192.168.0.1/",
		"http://100.64.0.1/",
		"http://user:password@127.0.0.1:" + p + "/",
		"http://127.0.0.1:" + p + "@169.254.169.254/",
		"HTTP://127.0.0.1:" + p + "/",
		"file:///etc/passwd",
		"gopher://127.0.0.1:" + p + "/_GET",
		"ftp://127.0.0.1:" + p + "/",
	}
	got := x.escape(t, "test.escape", "", nil, urls)
	for _, u := range urls {
		if assert.Len(t, got[u], 1, "calls for %s", u) {
			r := got[u][0]
			assert.Equal(t, int(abi.Denied.Status()), r.Status, "%s: %s", u, r.Detail)
			assert.Contains(t, r.Detail, "egress denied", u)
		}
	}
	assert.Zero(t, x.internal.hits.Load(), "the internal service was reached")
}

// ssrfRedirect: a block allowed one server is not led elsewhere by its
// redirects (to the internal service, localhost, the metadata address, a
// file), and a redirect loop ends; the internal service is never reached.
func ssrfRedirect(t *testing.T, x *trial) {
	r := x.redirector.URL
	redirects := []string{r + "/to-internal", r + "/to-localhost", r + "/to-metadata", r + "/to-file"}
	got := x.escape(t, "test.escape_allow", "", nil, slices.Concat([]string{r + "/ok", x.internal.URL + "/"}, redirects))
	ok := got[r+"/ok"]
	if assert.Len(t, ok, 1) {
		assert.Equal(t, 0, ok[0].Status, ok[0].Detail)
		assert.Equal(t, 200, ok[0].HTTPStatus)
		assert.Equal(t, "ok", ok[0].Data)
	}
	direct := got[x.internal.URL+"/"]
	if assert.Len(t, direct, 1) {
		assert.Equal(t, int(abi.Denied.Status()), direct[0].Status, "not in the allow list: %s", direct[0].Detail)
	}
	for _, u := range redirects {
		if assert.Len(t, got[u], 1, "calls for %s", u) {
			res := got[u][0]
			// ABI.md 4.6: a redirect is followed through the egress
			// rules, so one to a refused target is DENIED.
			assert.Equal(t, int(abi.Denied.Status()), res.Status, "%s: status %d, HTTP %d: %s", u, res.Status, res.HTTPStatus, res.Detail)
		}
	}
	assert.Zero(t, x.internal.hits.Load(), "the internal service was reached")

	// A redirect loop: the call returns LIMIT_EXCEEDED after 10 and the
	// step goes on (the block reports each call's status).
	loop := x.escape(t, "test.escape_allow", "", nil, []string{r + "/loop"})
	if assert.Len(t, loop[r+"/loop"], 1) {
		res := loop[r+"/loop"][0]
		assert.Equal(t, int(abi.LimitExceeded.Status()), res.Status)
		assert.Contains(t, res.Detail, "stopped after 10 redirects")
	}
}

// hugeModule is a module one byte over the default size limit, built
// before the good steps start: allocating 64 MiB under the race detector
// stalls every goroutine for up to seconds, which is the test's doing, not
// the host's.
var hugeModule = sync.OnceValue(func() []byte { return paddedModule(64<<20 + 1) })

// moduleTooLarge: a module one byte over the size limit is refused at
// load, at once and before compiling, whether loaded from memory or from
// a file; one exactly at the limit loads and serves.
func moduleTooLarge(t *testing.T, x *trial) {
	const defaultMax = 64 << 20
	huge := hugeModule()
	start := time.Now()
	_, err := x.h.LoadBlock(context.Background(), huge, manifest("huge"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "over the limit of "+strconv.Itoa(defaultMax))
	assert.Less(t, time.Since(start), 2*time.Second, "refusing a module over the size limit")
	assertFailed(t, x.h, "huge", "over the limit")

	const limit = 1 << 20
	h := newBareHost(t, host.Limits{MaxModuleBytes: limit})
	_, err = h.LoadBlock(context.Background(), paddedModule(limit), manifest("atlimit"))
	require.NoError(t, err, "a module exactly at the limit")
	x.also(t, "atlimit@small-host", func(int) error { return execOK(h, "test.atlimit") })

	_, err = h.LoadBlock(context.Background(), paddedModule(limit+1), manifest("overlimit"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "module is "+strconv.Itoa(limit+1)+" bytes, over the limit of "+strconv.Itoa(limit))

	dir := t.TempDir()
	path := filepath.Join(dir, "overfile.wasm")
	require.NoError(t, os.WriteFile(path, paddedModule(limit+1), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "overfile.yaml"), []byte("types: [test.overfile]\n"), 0o600))
	_, err = h.LoadFile(context.Background(), path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is "+strconv.Itoa(limit+1)+" bytes, over the limit of "+strconv.Itoa(limit))
	for _, typ := range []string{"test.overlimit", "test.overfile"} {
		_, err := h.Execute(context.Background(), host.StepRequest{Type: typ})
		assert.ErrorIs(t, err, host.ErrUnknownType, typ)
	}
}

// slowCompile: the compiler's time grows with the square of a function's
// blocks and branches. A module with one function over the per-function
// limit is refused before compiling, naming the function. One under it but
// slower than the (lowered) compile timeout is refused when the timeout
// fires; the function being compiled then runs on in the background, and
// closing the host meanwhile waits for it rather than crashing. A module
// of many such functions stops compiling at the next function, so the host
// compiles another block soon after. A block whose _initialize never
// returns is refused at load. The same host serves another block
// throughout.
func slowCompile(t *testing.T, x *trial) {
	const timeout = 100 * time.Millisecond
	h := newBareHost(t, host.Limits{CompileTimeout: timeout})
	minimal, err := os.ReadFile(filepath.Join(testblocks.FixturesDir(t), "minimal.wasm"))
	require.NoError(t, err)
	_, err = h.LoadBlock(context.Background(), minimal, manifest("minimal"))
	require.NoError(t, err)
	x.also(t, "minimal@compile-host", func(int) error { return execOK(h, "test.minimal") })

	_, err = h.LoadBlock(context.Background(), nestedModule(50), manifest("shallow"))
	require.NoError(t, err, "a module with 50 nested blocks compiles within the timeout")

	// Over the limit of 10000: refused by a scan, in far less than a
	// compile of it would take (about 4 s).
	start := time.Now()
	_, err = h.LoadBlock(context.Background(), nestedModule(20000), manifest("toodeep"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "function 0 has 20000 control instructions (blocks, loops, ifs and branches), over the limit of 10000 per function")
	assert.Less(t, time.Since(start), time.Second, "refusing a function over the limit")
	assertFailed(t, h, "toodeep", "over the limit of 10000 per function")

	// Under the limit, but about 0.7 s to compile on one core.
	start = time.Now()
	_, err = h.LoadBlock(context.Background(), loopsModule(6000), manifest("deep"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "compiling took longer than the limit of "+timeout.String())
	assert.Less(t, time.Since(start), timeout+time.Second, "the load returned long after the compile timeout")
	assertFailed(t, h, "deep", "compiling took longer")
	_, err = h.Execute(context.Background(), host.StepRequest{Type: "test.deep"})
	assert.ErrorIs(t, err, host.ErrUnknownType)

	// 200 functions of about 0.1 s each: without stopping between
	// functions this compile would hold the host's compile slot for
	// 10 s or more; the next load waits for it only until the function
	// being compiled ends.
	_, err = h.LoadBlock(context.Background(), manyFuncsModule(200, 3000), manifest("many"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "compiling took longer than the limit of "+timeout.String())
	start = time.Now()
	_, err = h.LoadBlock(context.Background(), nestedModule(10), manifest("next"))
	require.NoError(t, err, "a small block loads after a refused compile")
	assert.Less(t, time.Since(start), 5*time.Second, "the refused compile went on past its next function")
	require.NoError(t, execOK(h, "test.next"))

	// Closing a host while a refused compile runs on.
	h2, err := host.New(host.Config{Limits: host.Limits{CompileTimeout: timeout}})
	require.NoError(t, err)
	_, err = h2.LoadBlock(context.Background(), loopsModule(6000), manifest("deep"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "compiling took longer than the limit")
	closeHost(t, h2)
	_, err = h2.LoadBlock(context.Background(), minimal, manifest("minimal"))
	assert.ErrorIs(t, err, host.ErrClosed)

	// Closing a host while it compiles a module of many functions stops
	// the compile at its next function: the load fails with ErrClosed and
	// Close returns long before the whole compile would have ended.
	h4, err := host.New(host.Config{Limits: host.Limits{CompileTimeout: time.Minute}})
	require.NoError(t, err)
	loadErr := make(chan error, 1)
	go func() {
		_, err := h4.LoadBlock(context.Background(), manyFuncsModule(200, 3000), manifest("many"))
		loadErr <- err
	}()
	eventually(t, 10*time.Second, func() string {
		if !goroutineIn("host.checkModule") {
			return "the compile has not started"
		}
		return ""
	})
	start = time.Now()
	closeHost(t, h4)
	assert.Less(t, time.Since(start), 5*time.Second, "Close waited for the whole compile")
	assert.ErrorIs(t, <-loadErr, host.ErrClosed)

	// _initialize is bounded by the compile timeout too; this host's is
	// wider so that its compile of a tiny module never hits it.
	const initTimeout = 500 * time.Millisecond
	h3 := newBareHost(t, host.Limits{CompileTimeout: initTimeout})
	initloop, err := os.ReadFile(testdata("initloop.wasm"))
	require.NoError(t, err)
	start = time.Now()
	_, err = h3.LoadBlock(context.Background(), initloop, manifest("initloop"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "starting an instance")
	assert.Less(t, time.Since(start), initTimeout+time.Second, "refusing a block whose _initialize never returns")
}

// goroutineIn reports whether a goroutine of this process is running
// function fn (package-qualified, e.g. "host.checkModule").
func goroutineIn(fn string) bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Contains(buf[:n], []byte(fn+"("))
		}
		buf = make([]byte, 2*len(buf))
	}
}

// newBareHost returns a host without compilation cache (a compile the
// timeout refused must not be found done in a cache by the next run),
// closed when t ends.
func newBareHost(t *testing.T, limits host.Limits) *host.Host {
	h, err := host.New(host.Config{Limits: limits})
	require.NoError(t, err)
	t.Cleanup(func() { closeHost(t, h) })
	return h
}

// manifest is the manifest of a block name serving type test.<name>.
func manifest(name string) sandbox.Manifest {
	return sandbox.Manifest{Name: name, Version: "test", Types: []string{"test." + name}, Isolation: sandbox.IsolationShared}
}

// execOK runs one step of typ and requires its success.
func execOK(h *host.Host, typ string) error {
	res, err := h.Execute(context.Background(), host.StepRequest{Type: typ})
	if err != nil {
		return err
	}
	if res.Status != host.StatusSuccess {
		return errors.New(typ + ": " + string(res.Status) + " " + res.ErrorCode.String() + ": " + res.ErrorMessage)
	}
	return nil
}

// assertFailed checks that h lists block name as failed, with why in its
// last error.
func assertFailed(t *testing.T, h *host.Host, name, why string) {
	t.Helper()
	for _, b := range h.Blocks() {
		if b.Name == name {
			assert.Equal(t, "failed", b.State)
			assert.Contains(t, b.LastError, why)
			return
		}
	}
	t.Errorf("block %s is not listed", name)
}
