// Package load is the engine of cmd/loadgen, shared with the load,
// degradation and chaos suites under tests/: targets that run a step (the
// Go API in-process, the HTTP API, a bare echo server), open-loop and
// closed-loop runners that measure latency from each send's intended time,
// a log-linear histogram, per-second samples of RSS, goroutines and queue
// depth, and Markdown reports with hand-written SVG charts.
package load
