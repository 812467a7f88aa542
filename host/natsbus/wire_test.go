package natsbus

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/host"
)

func TestDecodeAssignmentMapsOntoStepRequest(t *testing.T) {
	body := `{
		"version": "1", "assignment_id": "a-1", "request_id": "r-1", "tenant_id": "t-1",
		"executor": {"provider_id": "p", "channel": "nats"},
		"job": {"type": "text.uppercase", "payload": {"text": "hi", "n": 3, "f": 1.5, "ok": true,
			"obj": {"b": [1, 2], "a": null}, "nil": null}},
		"options": {"priority": 5, "deadline_ms": 2500, "retry": {"max_attempts": 4, "backoff_ms": "250"}},
		"correlation": {"trace_id": "tr-1"},
		"metadata": {"flow_id": "f-1", "other": 1},
		"decision": {"x": 1}
	}`
	a, err := decodeAssignment([]byte(body))
	require.NoError(t, err)
	req, err := a.stepRequest("", false)
	require.NoError(t, err)
	assert.Equal(t, "text.uppercase", req.Type)
	assert.Equal(t, map[string]string{"text": "hi", "n": "3", "f": "1.5", "ok": "true",
		"obj": `{"b":[1,2],"a":null}`, "nil": "null"}, req.Inputs)
	assert.Equal(t, int64(2500), req.TimeoutMS)
	require.NotNil(t, req.RetryCount)
	assert.Equal(t, 3, *req.RetryCount)
	assert.Equal(t, map[string]string{GuardrailBackoffMS: "250"}, req.Guardrails)
	assert.Equal(t, host.BlockContext{TenantID: "t-1", TraceID: "tr-1", RunID: "r-1", FlowID: "f-1", StepID: "a-1"}, req.Context)
}

func TestDecodeAssignmentCorrelationFallbacks(t *testing.T) {
	a, err := decodeAssignment([]byte(`{"assignment_id":"a","request_id":"r","trace_id":"top","run_id":"run",
		"job":{"type":"x"},"options":{"retry":{"max_attempts":1}}}`))
	require.NoError(t, err)
	req, err := a.stepRequest("", false)
	require.NoError(t, err)
	assert.Equal(t, "top", req.Context.TraceID)
	assert.Equal(t, "run", req.Context.RunID)
	require.NotNil(t, req.RetryCount)
	assert.Equal(t, 0, *req.RetryCount, "max_attempts 1 is no retry")
	assert.Nil(t, req.Guardrails)
	assert.Zero(t, req.TimeoutMS, "no deadline: the host's default")

	a, err = decodeAssignment([]byte(`{"assignment_id":"a","request_id":"r","metadata":{"run_id":"m"},"job":{"type":"x"}}`))
	require.NoError(t, err)
	assert.Equal(t, "m", a.runID())
	assert.Nil(t, mustStep(t, a).RetryCount, "no retry options: the host's default")
}

func mustStep(t *testing.T, a *ExecAssignment) host.StepRequest {
	t.Helper()
	req, err := a.stepRequest("", false)
	require.NoError(t, err)
	return req
}

func TestDecodeAssignmentPayloadRef(t *testing.T) {
	a, err := decodeAssignment([]byte(`{"assignment_id":"a","job":{"type":"x","payload_ref":"blobs/1","payload":{"k":"v"}}}`))
	require.NoError(t, err)
	req, err := a.stepRequest("the blob", true)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"k": "v", "payload": "the blob"}, req.Inputs)

	a, err = decodeAssignment([]byte(`{"assignment_id":"a","job":{"type":"x","payload_ref":"r","payload":{"payload":"v"}}}`))
	require.NoError(t, err)
	_, err = a.stepRequest("blob", true)
	var ie *invalidError
	require.ErrorAs(t, err, &ie)
}

func TestDecodeAssignmentRejectsMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"not json":           `{"assignment_id": "a",`,
		"not an object":      `[1,2]`,
		"missing id":         `{"job":{"type":"x"}}`,
		"missing type":       `{"assignment_id":"a","job":{}}`,
		"wrong version":      `{"version":"2","assignment_id":"a","job":{"type":"x"}}`,
		"payload array":      `{"assignment_id":"a","job":{"type":"x","payload":[1]}}`,
		"payload string":     `{"assignment_id":"a","job":{"type":"x","payload":"s"}}`,
		"negative deadline":  `{"assignment_id":"a","job":{"type":"x"},"options":{"deadline_ms":-1}}`,
		"fractional ms":      `{"assignment_id":"a","job":{"type":"x"},"options":{"deadline_ms":1.5}}`,
		"too many attempts":  `{"assignment_id":"a","job":{"type":"x"},"options":{"retry":{"max_attempts":1000}}}`,
		"negative backoff":   `{"assignment_id":"a","job":{"type":"x"},"options":{"retry":{"backoff_ms":-5}}}`,
		"metadata not obj":   `{"assignment_id":"a","job":{"type":"x"},"metadata":"m"}`,
		"id too long":        `{"assignment_id":"` + strings.Repeat("x", 300) + `","job":{"type":"x"}}`,
		"type is not string": `{"assignment_id":"a","job":{"type":5}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeAssignment([]byte(body))
			var ie *invalidError
			require.ErrorAs(t, err, &ie)
		})
	}
}

func TestDecodeAssignmentKeepsIdentityOfBrokenMessages(t *testing.T) {
	a, err := decodeAssignment([]byte(`{"assignment_id":"a-9","tenant_id":"t","job":{"type":5}}`))
	require.Error(t, err)
	assert.Equal(t, "a-9", a.AssignmentID)
	assert.Equal(t, "t", a.TenantID)
}

func TestInt64AcceptsNumbersAndNumericStrings(t *testing.T) {
	for in, want := range map[string]int64{`5`: 5, `"7"`: 7, `2.0`: 2, `null`: 0, `1e3`: 1000} {
		var n Int64
		require.NoError(t, json.Unmarshal([]byte(in), &n), in)
		assert.Equal(t, want, int64(n), in)
	}
	for _, in := range []string{`"x"`, `1.5`, `true`, `{}`} {
		var n Int64
		assert.Error(t, json.Unmarshal([]byte(in), &n), in)
	}
}

func TestResultForCarriesCorrelation(t *testing.T) {
	a, err := decodeAssignment([]byte(`{"assignment_id":"a","request_id":"r","tenant_id":"t",
		"job":{"type":"x"},"correlation":{"trace_id":"tr"}}`))
	require.NoError(t, err)
	er := a.resultFor(host.StepResult{Status: host.StatusError, ErrorCode: abi.HTTPError, ErrorMessage: "boom",
		LatencyMS: 12, RetriesUsed: 2}, "w-1", "a", 99)
	data, err := json.Marshal(er)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	assert.Equal(t, map[string]any{"version": "1", "assignment_id": "a", "request_id": "r", "status": "error",
		"provider_id": "w-1", "job": map[string]any{"type": "x"}, "latency_ms": 12.0, "cost": 0.0, "timestamp": 99.0,
		"trace_id": "tr", "tenant_id": "t", "msg_id": "a", "run_id": "r", "error_code": "HTTP_ERROR",
		"error_message": "boom", "outputs": map[string]any{}, "retries_used": 2.0}, m)
}

func TestOutHeadersCarryCorrelation(t *testing.T) {
	in := nats.Header{}
	in.Set("traceparent", "00-abc-01")
	in.Set("trace_id", "from-header")
	in.Set("Nats-Msg-Id", "not carried")
	a := &ExecAssignment{TenantID: "t", Correlation: host.Correlation{TraceID: "from-body"}}
	out := outHeaders(in, a)
	assert.Equal(t, "00-abc-01", out.Get("traceparent"))
	assert.Equal(t, "from-header", out.Get("trace_id"))
	assert.Equal(t, "t", out.Get("tenant_id"))
	assert.Equal(t, "1", out.Get("version"))
	assert.Empty(t, out.Get("Nats-Msg-Id"))
}

func TestSubjectMatch(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"caf.exec.>", "caf.exec.assign.v1", true},
		{"caf.exec.>", "caf.exec.assign.v1.ack", true},
		{"caf.exec.>", "caf.exec", false},
		{"caf.exec.assign.v1", "caf.exec.assign.v1", true},
		{"caf.exec.assign.v1", "caf.exec.assign.v1.ack", false},
		{"caf.*.assign.v1", "caf.exec.assign.v1", true},
		{"caf.*.*.v1", "caf.exec.assign.v1.ack", false},
		{">", "caf.worker.heartbeat.v1", true},
	} {
		assert.Equal(t, c.want, subjectMatch(c.p, c.s), "%s ~ %s", c.p, c.s)
	}
}

func TestClaimKey(t *testing.T) {
	assert.Equal(t, "0b9f-uuid_1", claimKey("0b9f-uuid_1"))
	k := claimKey("a.b c/é")
	assert.True(t, strings.HasPrefix(k, "b64."), k)
	assert.NotEqual(t, claimKey("a.b"), claimKey("a_b"))
	for _, c := range k[4:] {
		assert.True(t, isKeyChar(byte(c)), k)
	}
}

func TestOptionsDefaultsAndValidation(t *testing.T) {
	o, err := Options{URL: "nats://x"}.withDefaults(13)
	require.NoError(t, err)
	assert.Equal(t, DefaultStream, o.Stream)
	assert.Equal(t, DefaultConsumer, o.Consumer)
	assert.Equal(t, DefaultClaimBucket, o.ClaimBucket)
	assert.Equal(t, 30*time.Second, o.AckWait)
	assert.Equal(t, 15*time.Second, o.ClaimLease)
	assert.Equal(t, 5*time.Second, o.HeartbeatInterval)
	assert.Equal(t, time.Second, o.RejectNakDelay)
	assert.Equal(t, 26, o.MaxInFlight)
	assert.True(t, ValidWorkerID(o.WorkerID), o.WorkerID)

	_, err = Options{}.withDefaults(1)
	assert.ErrorContains(t, err, "url is required")
	_, err = Options{URL: "x", AckWait: time.Minute, ClaimTTL: time.Minute}.withDefaults(1)
	assert.ErrorContains(t, err, "claim_ttl")
	_, err = Options{URL: "x", MaxDeliver: 1}.withDefaults(1)
	assert.ErrorContains(t, err, "max_deliver")
	_, err = Options{URL: "x", WorkerID: "a b"}.withDefaults(1)
	assert.ErrorContains(t, err, "worker_id")
	_, err = Options{URL: "x", HeartbeatInterval: -1}.withDefaults(1)
	assert.ErrorContains(t, err, "heartbeat_interval")
}

func TestRedactURL(t *testing.T) {
	assert.Equal(t, "nats://redacted@h:4222,nats://h2:4222", redactURL("nats://u:secret@h:4222,nats://h2:4222"))
}

func FuzzDecodeAssignment(f *testing.F) {
	f.Add([]byte(`{"version":"1","assignment_id":"a","job":{"type":"x","payload":{"k":1}},"options":{"deadline_ms":"5"}}`))
	f.Add([]byte(`{"assignment_id":"a","job":{"type":"x","payload_ref":"r"},"metadata":{"run_id":"m"}}`))
	f.Add([]byte(`{"assignment_id":"a","job":{"type":"x","payload":{"s":"\u00e9","n":null,"o":{"a":[]}}}}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := decodeAssignment(data)
		if err != nil {
			var ie *invalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an invalidError", err)
			}
			return
		}
		req, err := a.stepRequest("p", a.Job.PayloadRef != "")
		if err != nil {
			return
		}
		if req.Type == "" || req.Context.StepID == "" {
			t.Fatalf("accepted without type or id: %q", data)
		}
		if req.RetryCount != nil && *req.RetryCount < 0 {
			t.Fatalf("negative retry count from %q", data)
		}
	})
}
