package natsbus

import (
	"encoding/base64"
	"encoding/json"
)

// Claim states.
const (
	claimRunning = "running"
	claimDone    = "done"
)

// claim is the value of an assignment's key in the claims bucket.
//
// A host creates it (state running) before it runs the assignment and
// rewrites it every lease tick while the step runs: the entry's server
// timestamp is the lease. When the step ends the claimer replaces it, on
// the revision it last wrote, with state done and the result, before it
// publishes that result. Every write is a compare-and-set on the revision,
// so a host that lost its claim learns it at its next write.
type claim struct {
	State     string `json:"state"`
	WorkerID  string `json:"worker_id"`
	ClaimedAt int64  `json:"claimed_at"`
	// MsgID is the result's Nats-Msg-Id; DLQ says the result also went
	// to the dead-letter subject.
	MsgID  string          `json:"msg_id,omitempty"`
	DLQ    bool            `json:"dlq,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// claimKey is the bucket key of an assignment id: the id itself when it is
// made of letters, digits, '-' and '_', else "b64." and its unpadded
// base64url form (which cannot collide with a plain id: those have no dot).
func claimKey(id string) string {
	for i := 0; i < len(id); i++ {
		if !isKeyChar(id[i]) {
			return "b64." + base64.RawURLEncoding.EncodeToString([]byte(id))
		}
	}
	return id
}
