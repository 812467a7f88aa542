package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/host/httpapi"
	"github.com/beamline/blockhost/internal/testblocks"
	"github.com/beamline/blockhost/policy"
)

// TestClientDisconnect: with CP2 cancellation a client that goes away
// cancels its step; with it off (CP1) the step runs to its end.
func TestClientDisconnect(t *testing.T) {
	for _, cancellation := range []bool{true, false} {
		name := "cp1"
		if cancellation {
			name = "cp2"
		}
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			h, srv := newServer(t, host.Config{CacheDir: testblocks.CacheDir(t), Registerer: reg,
				Features: policy.Features{Cancellation: cancellation}}, httpapi.Options{})
			if err := h.LoadDir(context.Background(), blockDir(t, "sleep")); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/steps",
				strings.NewReader(`{"type":"test.sleep","inputs":{"ms":"400"},"retry_count":0}`))
			done := make(chan struct{})
			go func() {
				defer close(done)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
			deadline := time.Now().Add(5 * time.Second)
			for h.InFlight() == 0 && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
			start := time.Now()
			cancel()
			<-done
			for h.InFlight() > 0 && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
			took := time.Since(start)
			if cancellation && took > 250*time.Millisecond {
				t.Errorf("the disconnected client's step ran on for %v", took)
			}
			if !cancellation && took < 300*time.Millisecond {
				t.Errorf("CP1: the step ended %v after the disconnect; it should run to its end", took)
			}
		})
	}
}
