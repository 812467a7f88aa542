package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/beamline/blockhost/host"
)

// Gauges are the process figures sampled every second; -1 means unknown.
type Gauges struct {
	RSS        int64 `json:"rss_bytes"`
	Goroutines int   `json:"goroutines"`
	QueueDepth int   `json:"queue_depth"`
	Active     int   `json:"active"`
}

// Unknown is Gauges with every figure unknown.
var Unknown = Gauges{RSS: -1, Goroutines: -1, QueueDepth: -1, Active: -1}

// Probe samples the gauges of the system under load. Sample is called
// once a second from one goroutine and must return within about 500 ms.
type Probe interface {
	Sample(ctx context.Context) Gauges
}

// ProbeFunc adapts a function to Probe.
type ProbeFunc func(ctx context.Context) Gauges

// Sample calls f.
func (f ProbeFunc) Sample(ctx context.Context) Gauges { return f(ctx) }

// SelfProbe samples this process: VmRSS from /proc/self/status,
// runtime.NumGoroutine, and the queue depth and active steps summed over
// h's pools when h is not nil.
func SelfProbe(h *host.Host) Probe {
	return ProbeFunc(func(context.Context) Gauges {
		g := Unknown
		g.RSS = ReadRSS(0)
		g.Goroutines = runtime.NumGoroutine()
		if h != nil {
			g.QueueDepth, g.Active = 0, 0
			for _, p := range h.Pools() {
				g.QueueDepth += p.QueueDepth
				g.Active += p.Active
			}
		}
		return g
	})
}

// ServerProbe samples a blockhost server: RSS from /proc/PID/status when
// pid > 0, else process_resident_memory_bytes of /metrics; goroutines from
// go_goroutines of /metrics; queue depth and active steps from /v1/pools.
func ServerProbe(baseURL, token string, pid int) Probe {
	c := &http.Client{Timeout: 400 * time.Millisecond, Transport: &http.Transport{Proxy: nil}}
	base := strings.TrimRight(baseURL, "/")
	get := func(ctx context.Context, path string) []byte {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return nil
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil
		}
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return buf.Bytes()
	}
	return ProbeFunc(func(ctx context.Context) Gauges {
		g := Unknown
		if pid > 0 {
			g.RSS = ReadRSS(pid)
		}
		if m := get(ctx, "/metrics"); m != nil {
			if v, ok := metricValue(m, "go_goroutines"); ok {
				g.Goroutines = int(v)
			}
			if v, ok := metricValue(m, "process_resident_memory_bytes"); ok && g.RSS < 0 {
				g.RSS = int64(v)
			}
		}
		if b := get(ctx, "/v1/pools"); b != nil {
			var pools []host.PoolInfo
			if json.Unmarshal(b, &pools) == nil {
				g.QueueDepth, g.Active = 0, 0
				for _, p := range pools {
					g.QueueDepth += p.QueueDepth
					g.Active += p.Active
				}
			}
		}
		return g
	})
}

// PIDProbe samples the RSS of process pid.
func PIDProbe(pid int) Probe {
	return ProbeFunc(func(context.Context) Gauges {
		g := Unknown
		g.RSS = ReadRSS(pid)
		return g
	})
}

// metricValue finds an unlabelled sample of name in Prometheus text format.
func metricValue(text []byte, name string) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}

// ReadRSS returns the resident set size of process pid (0: this process)
// in bytes from /proc/PID/status, or -1 when it cannot be read.
func ReadRSS(pid int) int64 {
	path := "/proc/self/status"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return -1
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return -1
		}
		return kb << 10
	}
	return -1
}
