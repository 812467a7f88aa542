package natsbus

import "github.com/prometheus/client_golang/prometheus"

// What became of an assignment message: the result label of
// worker_nats_messages_total.
const (
	resExecuted = "executed" // run here; result published and message acked
	resReplayed = "replayed" // redelivered after it was done; stored result published again
	resBusy     = "busy"     // claimed by another live host; nacked with a delay
	resAttached = "attached" // redelivered while running here; acked with the running step
	resRejected = "rejected" // no room here (queue full); nacked with a delay
	resInvalid  = "invalid"  // malformed; rejected ACK, dead letter, terminated
	resLost     = "lost"     // its claimer stopped renewing; error result, not run again
	resFailed   = "failed"   // the bus could not talk to JetStream; nacked
	resShutdown = "shutdown" // arrived while closing or draining; nacked
)

var resultLabels = []string{resExecuted, resReplayed, resBusy, resAttached, resRejected, resInvalid, resLost, resFailed, resShutdown}

type metrics struct {
	messages map[string]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "worker_nats_messages_total",
		Help: "Assignment messages taken from JetStream, by what became of them.",
	}, []string{"result"})
	if err := reg.Register(vec); err != nil {
		return nil, err
	}
	m := &metrics{messages: map[string]prometheus.Counter{}}
	for _, l := range resultLabels {
		m.messages[l] = vec.WithLabelValues(l)
	}
	return m, nil
}

func (m *metrics) count(result string) { m.messages[result].Inc() }
