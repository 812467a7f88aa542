package host

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the host's Prometheus series, named as beamline names them.
type metrics struct {
	executions  *prometheus.CounterVec   // worker_step_executions_total{step_type,execution_status}
	duration    *prometheus.HistogramVec // worker_step_execution_duration_seconds{step_type,execution_status}
	errors      *prometheus.CounterVec   // worker_step_errors_total{step_type,execution_status,error_code}
	retries     *prometheus.CounterVec   // worker_retries_total{step_type}
	timeouts    *prometheus.CounterVec   // worker_step_timeouts_total{step_type}
	cancels     *prometheus.CounterVec   // worker_cancellations_total{step_type}
	active      *prometheus.GaugeVec     // worker_active_tasks{resource_pool}
	queueDepth  *prometheus.GaugeVec     // worker_queue_depth{resource_pool}
	rejections  *prometheus.CounterVec   // worker_queue_rejections_total{resource_pool,reason}
	queueWait   *prometheus.HistogramVec // worker_queue_wait_seconds{resource_pool}
	overload    *prometheus.GaugeVec     // worker_queue_overload_state{resource_pool}
	instances   *prometheus.GaugeVec     // worker_plugin_instances{block}
	loadsFailed *prometheus.CounterVec   // worker_plugin_load_failures_total{block}
	reloads     *prometheus.CounterVec   // worker_plugin_reloads_total{block,result}
	brState     *prometheus.GaugeVec     // worker_circuit_breaker_state{kind,target}
	brTrans     *prometheus.CounterVec   // worker_circuit_breaker_transitions_total{kind,to}
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		executions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "worker_step_executions_total", Help: "Steps finished, by step type and status.",
		}, []string{"step_type", "execution_status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "worker_step_execution_duration_seconds", Help: "Step latency from admission to result.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"step_type", "execution_status"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "worker_step_errors_total", Help: "Steps that did not succeed, by error code.",
		}, []string{"step_type", "execution_status", "error_code"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "worker_retries_total", Help: "Retry attempts started.",
		}, []string{"step_type"}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "worker_step_timeouts_total", Help: "Steps that ended in timeout.",
		}, []string{"step_type"}),
		cancels: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "worker_cancellations_total", Help: "Steps that ended cancelled.",
		}, []string{"step_type"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "worker_active_tasks", Help: "Steps holding a slot of the resource pool.",
		}, []string{"resource_pool"}),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "worker_queue_depth", Help: "Steps waiting for a slot of the resource pool.",
		}, []string{"resource_pool"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "worker_queue_rejections_total", Help: "Steps rejected by the resource pool's queue.",
		}, []string{"resource_pool", "reason"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "worker_queue_wait_seconds", Help: "Time steps waited for a slot.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5, 10, 30},
		}, []string{"resource_pool"}),
		overload: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "worker_queue_overload_state",
			Help: "Overload state of the resource pool's queue: 0 healthy, 1 degraded, 2 overloaded, 3 critical.",
		}, []string{"resource_pool"}),
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "worker_plugin_instances", Help: "Live instances of each block.",
		}, []string{"block"}),
		loadsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "worker_plugin_load_failures_total", Help: "Blocks that failed to load.",
		}, []string{"block"}),
		brState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "worker_circuit_breaker_state",
			Help: "Circuit breaker state: 0 closed, 1 open, 2 half-open. At most 1024 targets per kind.",
		}, []string{"kind", "target"}),
		brTrans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "worker_circuit_breaker_transitions_total", Help: "Circuit breaker state changes, by the state entered.",
		}, []string{"kind", "to"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "worker_plugin_reloads_total", Help: "Hot reloads of blocks, by result (ok, failed, removed).",
		}, []string{"block", "result"}),
	}
	for _, c := range []prometheus.Collector{m.executions, m.duration, m.errors, m.retries, m.timeouts,
		m.cancels, m.active, m.queueDepth, m.rejections, m.queueWait, m.overload, m.instances, m.loadsFailed, m.reloads, m.brState, m.brTrans} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// typeMetrics are the pre-resolved series of one step type, so the step
// path does not hash label values.
type typeMetrics struct {
	executions [4]prometheus.Counter
	duration   [4]prometheus.Observer
	retries    prometheus.Counter
	timeouts   prometheus.Counter
	cancels    prometheus.Counter
}

var statusIndex = map[Status]int{StatusSuccess: 0, StatusError: 1, StatusTimeout: 2, StatusCancelled: 3}
var statuses = [4]Status{StatusSuccess, StatusError, StatusTimeout, StatusCancelled}

func (m *metrics) forType(t string) *typeMetrics {
	tm := &typeMetrics{
		retries:  m.retries.WithLabelValues(t),
		timeouts: m.timeouts.WithLabelValues(t),
		cancels:  m.cancels.WithLabelValues(t),
	}
	for i, s := range statuses {
		tm.executions[i] = m.executions.WithLabelValues(t, string(s))
		tm.duration[i] = m.duration.WithLabelValues(t, string(s))
	}
	return tm
}

// healthCollector exports worker_health_status{check}, read when scraped:
// 1 while the check passes, 0 while it fails. The checks:
//
//   - ready: the host admits steps (0 once it drains);
//   - blocks: every block loaded, and its last reload too (0 while GET
//     /v1/blocks shows one failed or with a last_error);
//   - queue_POOL, one per pool: the pool's queue is healthy or degraded
//     (0 when overloaded or critical);
//   - breakers: no circuit breaker is open.
type healthCollector struct {
	h    *Host
	desc *prometheus.Desc
}

func newHealthCollector(h *Host) *healthCollector {
	return &healthCollector{h: h, desc: prometheus.NewDesc("worker_health_status",
		"Health checks: 1 passing, 0 failing (ready, blocks, queue_POOL, breakers).", []string{"check"}, nil)}
}

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	put := func(check string, ok bool) {
		v := 0.0
		if ok {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, check)
	}
	put("ready", !c.h.Draining())
	loaded := true
	for _, b := range c.h.Blocks() {
		if b.State == "failed" || b.LastError != "" {
			loaded = false
		}
	}
	put("blocks", loaded)
	for _, p := range c.h.Pools() {
		put("queue_"+p.Name, p.State != "overloaded" && p.State != "critical")
	}
	closed := true
	for _, b := range c.h.Breakers() {
		if b.State == "open" {
			closed = false
		}
	}
	put("breakers", closed)
}
