package httpcap

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/beamline/blockhost/policy"
)

// The two benchmarks below make the same GET of a 1 KiB body against a
// loopback httptest server, reading the whole body: through Client.Do
// (egress check, breaker, timeouts, capped body) and through a plain
// http.Client with its own transport. Compare with
//
//	go test -run '^$' -bench 'Do|PlainGET' -benchmem -count 5 ./plugins/http/

var benchBody = make([]byte, 1024)

func benchServer(b *testing.B) *countingServer {
	return newServer(b, func(w http.ResponseWriter, r *http.Request) { w.Write(benchBody) })
}

func BenchmarkDo(b *testing.B) {
	for _, tc := range []struct {
		name string
		f    policy.Features
	}{
		{"CP1", policy.Features{}},
		{"CP2", policy.Features{CompleteTimeout: true, CircuitBreaker: true, Cancellation: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := benchServer(b)
			c := newClient(b, Config{Features: tc.f})
			g := grantFor(srv.URL)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Do(ctx, g, Request{URL: srv.URL + "/bench"})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
}

func BenchmarkPlainGET(b *testing.B) {
	srv := benchServer(b)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/bench", nil)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}
