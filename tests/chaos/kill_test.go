//go:build e2e

package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beamline/blockhost/cmd/loadgen/load"
	"github.com/beamline/blockhost/internal/testblocks"
)

const groupProcess = "Process: blockhost serve killed with SIGKILL mid-load"

// blobWriter puts unique blobs through the HTTP API until stopped and
// remembers the ones the host acknowledged (200 and status success).
type blobWriter struct {
	mu       sync.Mutex
	acked    map[string]string // key -> sha256
	attempts map[string]string // every key tried -> sha256
	errs     map[string]int
}

func (b *blobWriter) run(ctx context.Context, url string, worker int) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	for i := 0; ctx.Err() == nil && i < 10000; i++ {
		raw := make([]byte, 32<<10)
		rand.Read(raw)
		data := hex.EncodeToString(raw)
		key := fmt.Sprintf("w%d/blob-%05d", worker, i)
		body, _ := json.Marshal(map[string]any{"type": "fs.blob_put", "retry_count": 0, "inputs": map[string]string{"key": key, "data": data}})
		b.mu.Lock()
		b.attempts[key] = sum(data)
		b.mu.Unlock()
		resp, err := client.Post(url+"/v1/steps", "application/json", bytes.NewReader(body))
		if err != nil {
			b.count("transport error")
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var res struct {
			Status    string `json:"status"`
			ErrorCode string `json:"error_code"`
		}
		derr := json.NewDecoder(resp.Body).Decode(&res)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && derr == nil && res.Status == "success" {
			b.mu.Lock()
			b.acked[key] = sum(data)
			b.mu.Unlock()
			continue
		}
		b.count(fmt.Sprintf("HTTP %d %s/%s", resp.StatusCode, res.Status, res.ErrorCode))
	}
}

func (b *blobWriter) count(what string) {
	b.mu.Lock()
	b.errs[what]++
	b.mu.Unlock()
}

// getBlob reads a blob back through the HTTP API: its status and sha256.
func getBlob(url, key string) (string, string, error) {
	body, _ := json.Marshal(map[string]any{"type": "fs.blob_get", "retry_count": 0, "inputs": map[string]string{"key": key}})
	resp, err := http.Post(url+"/v1/steps", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var res struct {
		Status    string            `json:"status"`
		ErrorCode string            `json:"error_code"`
		Outputs   map[string]string `json:"outputs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return "", "", fmt.Errorf("HTTP %d: %v", resp.StatusCode, err)
	}
	return res.Status + "/" + res.ErrorCode, res.Outputs["sha256"], nil
}

func TestKillRestartMidLoad(t *testing.T) {
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupProcess, "SIGKILL mid-load, restart, acknowledged blobs", cp2,
			"A `blockhost serve` built by the suite serves noop at 200 steps/s (open loop, HTTP) while 4 writers put unique 64 KB blobs "+
				"(fs.blob_put, retry_count 0) and remember each one acknowledged (200, status success). At 1.5 s the process is killed with "+
				"SIGKILL, then restarted on the same address with the same config and compilation cache. Expectations: it is ready again "+
				"quickly, serves the same load without errors, every acknowledged blob reads back with its sha256, and no blob that was "+
				"being written when it died is visible torn.")
		if binary == "" {
			s.fatalf("cmd/host did not build: %s", buildErr)
		}
		dir := s.plugins("noop", "fs_blob_put", "fs_blob_get")
		root := t.TempDir()
		extra := fmt.Sprintf("blocks:\n  fs_blob_put:\n    fs:\n      root: %s\n  fs_blob_get:\n    fs:\n      root: %s\n", root, root)
		cfg := load.ServerConfig(dir, testblocks.CacheDir(t), cp2, extra)
		work := t.TempDir()
		ctx := context.Background()
		srv, err := load.StartServer(ctx, load.ServerOptions{Bin: binary, Config: cfg, Dir: work})
		s.require(err, "starting blockhost serve")
		t.Cleanup(func() { srv.Kill() })

		bw := &blobWriter{acked: map[string]string{}, attempts: map[string]string{}, errs: map[string]int{}}
		wctx, stopWriters := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() { defer wg.Done(); bw.run(wctx, srv.URL, i) }()
		}
		w, err := load.NewWorkload(load.WorkloadOptions{Mix: []load.Weighted{{Type: "noop", Weight: 1}}})
		s.require(err, "workload")
		tg := load.NewHTTPTarget(srv.URL, "", 32)
		killed := make(chan time.Time, 1)
		go func() {
			time.Sleep(1500 * time.Millisecond)
			at := time.Now()
			srv.Kill()
			killed <- at
		}()
		before, err := load.Run(ctx, tg, w, load.Options{Rate: 200, Duration: 3 * time.Second, Workers: 32, Drain: 10 * time.Second})
		s.require(err, "load before the kill")
		tg.Close()
		killedAt := <-killed
		s.figure("load around the kill", fmt.Sprintf("%d sent, %d ok, %d failed %v", before.Sent, before.OK, before.Failed, before.Codes))
		s.expect("the load ran before the kill", "> 200 steps ok", fmt.Sprint(before.OK), before.OK > 200)

		srv2, err := load.StartServer(ctx, load.ServerOptions{Bin: binary, Config: cfg, Dir: work, Listen: srv.Listen()})
		s.require(err, "restarting blockhost serve")
		t.Cleanup(func() { srv2.Stop(10 * time.Second) })
		ready := time.Since(killedAt)
		s.expect("ready again after the restart", "≤ 30 s from the kill", ms(ready), ready <= 30*time.Second)
		stopWriters()
		wg.Wait()

		tg2 := load.NewHTTPTarget(srv2.URL, "", 32)
		after, err := load.Run(ctx, tg2, w, load.Options{Rate: 200, Duration: 2 * time.Second, Workers: 32})
		tg2.Close()
		s.require(err, "load after the restart")
		s.expect("serves the same load after the restart", "400 of 400 ok", fmt.Sprintf("%d of %d (p99 %s) %v", after.OK, after.Sent, ms(after.Latency.Quantile(0.99)), after.Codes),
			after.OK == 400 && after.Sent == 400)

		bw.mu.Lock()
		acked := bw.acked
		attempts := bw.attempts
		errs := bw.errs
		bw.mu.Unlock()
		s.figure("blob puts", fmt.Sprintf("%d acknowledged of %d tried; refused or failed: %v", len(acked), len(attempts), errs))
		s.expect("blobs acknowledged (before the kill and after the restart)", "> 0", fmt.Sprint(len(acked)), len(acked) > 0)
		lost, torn, unackedVisible := 0, 0, 0
		var lostKeys []string
		for key, want := range attempts {
			st, got, err := getBlob(srv2.URL, key)
			if _, ok := acked[key]; ok {
				if err != nil || got != want {
					lost++
					lostKeys = append(lostKeys, fmt.Sprintf("%s (%s %v)", key, st, err))
				}
				continue
			}
			if err == nil && strings.HasPrefix(st, "success") {
				unackedVisible++
				if got != want {
					torn++
				}
			}
		}
		if len(lostKeys) > 5 {
			lostKeys = lostKeys[:5]
		}
		s.expect("no acknowledged blob lost", "0", fmt.Sprintf("%d of %d %v", lost, len(acked), lostKeys), lost == 0)
		s.expect("no torn blob visible", "0 (a blob whose put was cut off is absent or whole)",
			fmt.Sprintf("%d torn; %d unacknowledged puts are visible and whole", torn, unackedVisible-torn), torn == 0)
		leftovers := 0
		for _, f := range files(root) {
			if strings.Contains(f, ".tmp") || strings.HasPrefix(f, ".") || strings.Contains(f, "/.") {
				leftovers++
			}
		}
		s.figure("temporary files under the root after the restart", fmt.Sprint(leftovers))
	})
}
