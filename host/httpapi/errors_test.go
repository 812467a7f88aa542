package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/beamline/blockhost/host"
)

// TestExecuteErrorAnswers pins the answer to every error Execute may
// return for a step it did not admit.
func TestExecuteErrorAnswers(t *testing.T) {
	h, err := host.New(host.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a := New(h, Options{}).(*api)
	ack := host.Ack{Version: "1", Status: "rejected", Reason: "queue_full", Message: "queue_full"}
	tests := []struct {
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{fmt.Errorf("%w: timeout_ms must not be negative", host.ErrInvalidRequest), 400, CodeInvalidInput, ""},
		{fmt.Errorf("%w: x.y", host.ErrUnknownType), 404, CodeUnknownType, ""},
		{host.ErrDuplicateStep, 409, CodeDuplicateStep, ""},
		{fmt.Errorf("%w: inputs are 200 MiB", host.ErrTooLarge), 413, CodeQuotaExceeded, ""},
		{host.ErrDraining, 503, CodeDraining, ""},
		{host.ErrClosed, 503, CodeDraining, ""},
		{errors.New("boom"), 500, CodeInternal, ""},
		{&host.RejectedError{Ack: ack, Pool: "cpu", RetryAfter: 0}, 429, "", "1"},
		{&host.RejectedError{Ack: ack, Pool: "cpu", RetryAfter: 300 * time.Millisecond}, 429, "", "1"},
		{&host.RejectedError{Ack: ack, Pool: "cpu", RetryAfter: 2100 * time.Millisecond}, 429, "", "3"},
		{fmt.Errorf("wrapped: %w", &host.RejectedError{Ack: ack, Pool: "io", RetryAfter: 5 * time.Second}), 429, "", "5"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/v1/steps", nil)
		a.writeExecuteError(rec, r, host.StepRequest{Type: "x.y", Context: host.BlockContext{StepID: "s1"}}, tt.err)
		if rec.Code != tt.status {
			t.Errorf("%v: status %d, want %d", tt.err, rec.Code, tt.status)
			continue
		}
		if got := rec.Header().Get("Retry-After"); got != tt.retryAfter {
			t.Errorf("%v: Retry-After %q, want %q", tt.err, got, tt.retryAfter)
		}
		if tt.status == 429 {
			var got host.Ack
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Status != "rejected" || got.Reason != "queue_full" || got.Message != "queue_full" {
				t.Errorf("429 body %s, want the ACK", rec.Body)
			}
			continue
		}
		var e ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code != tt.code || e.Error == "" || e.StepID != "s1" {
			t.Errorf("%v: body %s, want code %s", tt.err, rec.Body, tt.code)
		}
	}
}
