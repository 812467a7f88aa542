package load

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Request is one step to send. Targets must not modify it: one Request
// value is shared by every send of its type.
type Request struct {
	// Type is the step type.
	Type string
	// Inputs are the step's small inputs.
	Inputs map[string]string
	// PayloadKey, when set, names one more input whose value is Payload: over
	// HTTP it travels raw as its own multipart part.
	PayloadKey string
	Payload    string
	// TimeoutMS and RetryCount are sent when set.
	TimeoutMS  int64
	RetryCount *int
	// Class selects the resource pool (resources.class) when set.
	Class string
	// Tenant is the context's tenant_id when set.
	Tenant string
}

// InputBytes returns the size of the request's inputs, keys included.
func (r *Request) InputBytes() int {
	n := len(r.PayloadKey) + len(r.Payload)
	for k, v := range r.Inputs {
		n += len(k) + len(v)
	}
	return n
}

// DefaultInputs are the inputs a step type gets when the workload does not
// say: enough for each example and test block to succeed.
func DefaultInputs(stepType string) map[string]string {
	switch stepType {
	case "text.uppercase":
		return map[string]string{"text": "hello, blockhost"}
	case "test.sleep":
		return map[string]string{"ms": "10"}
	case "test.echo":
		return map[string]string{"echo_mode": "handle"}
	case "test.membomb":
		return map[string]string{"mb": "4", "max_mb": "16"}
	}
	return map[string]string{}
}

// DefaultPayloadKey is the input that carries a step type's large payload.
func DefaultPayloadKey(stepType string) string {
	if stepType == "text.uppercase" {
		return "text"
	}
	return "data"
}

// Weighted is one entry of a mix: a step type and its weight.
type Weighted struct {
	Type   string
	Weight int
}

// ParseMix parses "noop:8,test.sleep:2" (a missing weight is 1).
func ParseMix(s string) ([]Weighted, error) {
	var out []Weighted
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		typ, w, hasW := strings.Cut(part, ":")
		weight := 1
		if hasW {
			n, err := strconv.Atoi(w)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("mix entry %q: weight must be a positive integer", part)
			}
			weight = n
		}
		if typ == "" {
			return nil, fmt.Errorf("mix entry %q: empty step type", part)
		}
		out = append(out, Weighted{Type: typ, Weight: weight})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("mix %q: no step type", s)
	}
	return out, nil
}

// Workload yields the request of each send: one Request per step type,
// interleaved by weight in a shuffled but fixed order. Safe for concurrent
// use; the zero value is not usable, build one with NewWorkload.
type Workload struct {
	reqs  []*Request // by type, in mix order
	slots []int      // index into reqs, len = sum of weights
}

// WorkloadOptions describe a workload.
type WorkloadOptions struct {
	// Mix lists the step types and their weights.
	Mix []Weighted
	// Inputs are added to every type's default inputs (and override them).
	Inputs map[string]string
	// PayloadBytes > 0 adds a payload of that many bytes (printable ASCII)
	// to every request, under PayloadKey (default: DefaultPayloadKey).
	PayloadBytes int
	PayloadKey   string
	TimeoutMS    int64
	RetryCount   *int
	Class        string
	Tenant       string
}

// NewWorkload builds a workload.
func NewWorkload(o WorkloadOptions) (*Workload, error) {
	if len(o.Mix) == 0 {
		return nil, fmt.Errorf("workload: no step type")
	}
	payload := ""
	if o.PayloadBytes > 0 {
		payload = Payload(o.PayloadBytes)
	}
	w := &Workload{}
	for i, m := range o.Mix {
		r := &Request{Type: m.Type, Inputs: DefaultInputs(m.Type), TimeoutMS: o.TimeoutMS,
			RetryCount: o.RetryCount, Class: o.Class, Tenant: o.Tenant}
		maps.Copy(r.Inputs, o.Inputs)
		if payload != "" {
			r.PayloadKey = o.PayloadKey
			if r.PayloadKey == "" {
				r.PayloadKey = DefaultPayloadKey(m.Type)
			}
			delete(r.Inputs, r.PayloadKey)
			r.Payload = payload
		}
		w.reqs = append(w.reqs, r)
		for range m.Weight {
			w.slots = append(w.slots, i)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(w.slots), func(i, j int) { w.slots[i], w.slots[j] = w.slots[j], w.slots[i] })
	return w, nil
}

// Types returns the step types in mix order.
func (w *Workload) Types() []string {
	out := make([]string, len(w.reqs))
	for i, r := range w.reqs {
		out[i] = r.Type
	}
	return out
}

// Requests returns the request of each type, in mix order.
func (w *Workload) Requests() []*Request { return slices.Clone(w.reqs) }

// Next returns the index of the type of the i-th send and its request.
func (w *Workload) Next(i uint64) (int, *Request) {
	t := w.slots[i%uint64(len(w.slots))]
	return t, w.reqs[t]
}

// Payload returns n bytes of printable ASCII that need no escaping in JSON.
func Payload(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[(i*7+i/61)%len(alphabet)]
	}
	return string(b)
}
