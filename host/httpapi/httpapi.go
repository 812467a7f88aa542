package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/beamline/blockhost/host"
)

// DefaultMaxBodyBytes is the request body cap used when
// Options.MaxBodyBytes is 0: the host's default step input cap (128 MiB)
// plus 1 MiB for the JSON envelope.
const DefaultMaxBodyBytes int64 = 128<<20 + 1<<20

// Options configure the handler New returns. The zero value is valid: no
// token, no /metrics, logs discarded, DefaultMaxBodyBytes, GET /v1/breakers
// listing h.Breakers().
type Options struct {
	// Token, when not empty, is required on every /v1 route as
	// "Authorization: Bearer <token>" (compared in constant time); a request
	// without it gets 401. /metrics and the health endpoints stay open.
	Token string
	// Gatherer is what GET /metrics exposes in the Prometheus text format;
	// nil means /metrics answers 404.
	Gatherer prometheus.Gatherer
	// Logger receives one debug line per request and a warn line for every
	// error answer; nil discards.
	Logger *slog.Logger
	// MaxBodyBytes caps a request body (DefaultMaxBodyBytes when 0); a body
	// over it answers 413.
	MaxBodyBytes int64
	// Breakers, when not nil, replaces h.Breakers as the source of
	// GET /v1/breakers: its result is encoded as the JSON answer, a nil
	// result as [].
	Breakers func() any
}

// API error codes: the "code" member of an error answer.
const (
	CodeInvalidInput         = "INVALID_INPUT"         // 400
	CodeUnauthorized         = "UNAUTHORIZED"          // 401
	CodeNotFound             = "NOT_FOUND"             // 404: no such route
	CodeUnknownType          = "UNKNOWN_TYPE"          // 404: no block serves the type
	CodeUnknownStep          = "UNKNOWN_STEP"          // 404: no such step in flight
	CodeMethodNotAllowed     = "METHOD_NOT_ALLOWED"    // 405
	CodeDuplicateStep        = "DUPLICATE_STEP"        // 409: step_id already in flight
	CodeCancellationDisabled = "CANCELLATION_DISABLED" // 409: CP2_CANCELLATION_ENABLED is off
	CodeQuotaExceeded        = "QUOTA_EXCEEDED"        // 413
	CodeDraining             = "DRAINING"              // 503: draining or closed
	CodeInternal             = "INTERNAL_ERROR"        // 500
)

// ErrorBody is the JSON answer of every error status except 429 (which
// answers the ExecAssignmentAck).
type ErrorBody struct {
	// Error says what is wrong, naming the field when one is at fault.
	Error string `json:"error"`
	// Code is one of the Code* constants.
	Code string `json:"code"`
	// Field is the request field at fault (e.g. "type", "inputs.text"),
	// when there is one.
	Field string `json:"field,omitempty"`
	// StepID is the step concerned, when there is one.
	StepID string `json:"step_id,omitempty"`
}

// New returns the HTTP API of h. The handler is safe for concurrent use.
func New(h *host.Host, o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	a := &api{h: h, o: o, log: o.Logger}
	if o.Token != "" {
		a.tokenSum = sha256.Sum256([]byte(o.Token))
	}

	routes := []struct {
		method, path string
		handler      http.HandlerFunc
	}{
		{http.MethodPost, "/v1/steps", a.postStep},
		{http.MethodDelete, "/v1/steps/{step_id}", a.deleteStep},
		{http.MethodGet, "/v1/blocks", a.getBlocks},
		{http.MethodPost, "/v1/blocks/reload", a.postReload},
		{http.MethodGet, "/v1/pools", a.getPools},
		{http.MethodGet, "/v1/breakers", a.getBreakers},
		{http.MethodGet, "/v1/features", a.getFeatures},
		{http.MethodGet, "/_health", a.getHealth},
		{http.MethodGet, "/healthz", a.getHealthz},
		{http.MethodGet, "/readyz", a.getReadyz},
	}
	if o.Gatherer != nil {
		metrics := promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		})
		routes = append(routes, struct {
			method, path string
			handler      http.HandlerFunc
		}{http.MethodGet, "/metrics", metrics.ServeHTTP})
	}

	mux := http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range routes {
		mux.HandleFunc(rt.method+" "+rt.path, rt.handler)
		if _, ok := allowed[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
		if rt.method == http.MethodGet {
			allowed[rt.path] = append(allowed[rt.path], http.MethodHead)
		}
	}
	// A path without a method is less specific than the same path with one,
	// so these only catch the methods no route serves.
	for _, p := range paths {
		methods := allowed[p]
		slices.Sort(methods)
		allow := strings.Join(methods, ", ")
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			a.writeError(w, r, http.StatusMethodNotAllowed, ErrorBody{
				Code:  CodeMethodNotAllowed,
				Error: r.Method + " not allowed on " + p + "; allowed: " + allow,
			})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, http.StatusNotFound, ErrorBody{Code: CodeNotFound, Error: "no route " + r.URL.Path})
	})
	a.mux = mux
	return a
}

// api is the handler New returns.
type api struct {
	h        *host.Host
	o        Options
	log      *slog.Logger
	mux      *http.ServeMux
	tokenSum [sha256.Size]byte

	reloadMu      sync.Mutex
	reloadRunning bool
	reloadAgain   bool
}

var _ http.Handler = (*api)(nil)

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	debug := a.log.Enabled(r.Context(), slog.LevelDebug)
	var rec *recorder
	if debug {
		rec = &recorder{ResponseWriter: w}
		w = rec
	}
	start := time.Now()
	if a.o.Token != "" && isV1(r.URL.Path) && !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="blockhost"`)
		a.writeError(w, r, http.StatusUnauthorized, ErrorBody{
			Code:  CodeUnauthorized,
			Error: "missing or wrong bearer token (Authorization: Bearer <token>)",
		})
	} else {
		a.mux.ServeHTTP(w, r)
	}
	if debug {
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		a.log.LogAttrs(r.Context(), slog.LevelDebug, "http request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("remote", r.RemoteAddr))
	}
}

func isV1(path string) bool { return path == "/v1" || strings.HasPrefix(path, "/v1/") }

// authorized compares the bearer token by its sha256, so neither the
// comparison's time nor its length check depends on the token.
func (a *api) authorized(r *http.Request) bool {
	const prefix = "bearer "
	v := r.Header.Get("Authorization")
	if len(v) < len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(v[len(prefix):])))
	return subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) == 1
}

func (a *api) getBlocks(w http.ResponseWriter, r *http.Request) {
	blocks := a.h.Blocks()
	if blocks == nil {
		blocks = []host.BlockInfo{}
	}
	writeJSON(w, http.StatusOK, blocks)
}

func (a *api) getPools(w http.ResponseWriter, r *http.Request) {
	pools := a.h.Pools()
	if pools == nil {
		pools = []host.PoolInfo{}
	}
	writeJSON(w, http.StatusOK, pools)
}

func (a *api) getBreakers(w http.ResponseWriter, r *http.Request) {
	if a.o.Breakers == nil {
		b := a.h.Breakers()
		if b == nil {
			b = []host.BreakerInfo{}
		}
		writeJSON(w, http.StatusOK, b)
		return
	}
	v := a.o.Breakers()
	if v == nil {
		v = []struct{}{}
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *api) getFeatures(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.h.Features())
}

// postReload starts h.Reload in the background, detached from the request,
// and answers 202 at once. Reloads do not overlap: one asked for while
// another runs is coalesced into a single rerun after it.
func (a *api) postReload(w http.ResponseWriter, r *http.Request) {
	a.reloadMu.Lock()
	status := "reload_started"
	if a.reloadRunning {
		a.reloadAgain = true
		status = "reload_pending"
	} else {
		a.reloadRunning = true
		go a.reloadLoop()
	}
	a.reloadMu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]string{"status": status})
}

func (a *api) reloadLoop() {
	for {
		start := time.Now()
		err := a.h.Reload(context.Background())
		took := slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000)
		if err != nil {
			a.log.Warn("reload failed", slog.String("error", err.Error()), took)
		} else {
			a.log.Info("reload done", slog.Int("blocks", len(a.h.Blocks())), took)
		}
		a.reloadMu.Lock()
		if !a.reloadAgain {
			a.reloadRunning = false
			a.reloadMu.Unlock()
			return
		}
		a.reloadAgain = false
		a.reloadMu.Unlock()
	}
}

// healthBody is the answer of GET /_health (the beamline health check).
type healthBody struct {
	Status    string `json:"status"`
	Timestamp string `json:"timestamp"`
}

// getHealth answers {"status":"healthy"} with 200, or {"status":"draining"}
// with 503 once the host drains, so a router stops sending work.
func (a *api) getHealth(w http.ResponseWriter, r *http.Request) {
	b := healthBody{Status: "healthy", Timestamp: time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")}
	code := http.StatusOK
	if a.h.Draining() {
		b.Status, code = "draining", http.StatusServiceUnavailable
	}
	writeJSON(w, code, b)
}

func (a *api) getHealthz(w http.ResponseWriter, r *http.Request) {
	writeText(w, http.StatusOK, "ok\n")
}

func (a *api) getReadyz(w http.ResponseWriter, r *http.Request) {
	if a.h.Draining() {
		writeText(w, http.StatusServiceUnavailable, "draining\n")
		return
	}
	writeText(w, http.StatusOK, "ready\n")
}

// recorder remembers the status of a response for the request log.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
