// Package httpapi is the HTTP transport of a host.Host: the JSON API that
// `blockhost serve` listens with (POST /v1/steps, DELETE /v1/steps/{step_id},
// GET /v1/blocks, POST /v1/blocks/reload, GET /v1/pools, GET /v1/breakers,
// GET /v1/features), Prometheus /metrics and the health endpoints /_health,
// /healthz and /readyz.
//
// New returns an http.Handler; it is safe for concurrent use, as is the Host
// it wraps. The handler reads no environment and no flags: everything comes
// from Options.
package httpapi
