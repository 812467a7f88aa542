package main

import (
	"testing"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest/guesttest"
)

func TestUpper(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hello", "HELLO"},
		{"", ""},
		{"déjà vu 42", "DÉJÀ VU 42"},
	}
	for _, tt := range tests {
		// nil runs the handler registered in init, as the host would.
		res := guesttest.Run(nil, guesttest.Step{Inputs: map[string]string{"text": tt.in}})
		if res.Err != nil {
			t.Fatalf("%q: %v", tt.in, res.Err)
		}
		if got := res.Outputs["text"]; got != tt.want || len(res.Outputs) != 1 {
			t.Errorf("%q: outputs %v, want text=%q", tt.in, res.Outputs, tt.want)
		}
	}
}

func TestMissingText(t *testing.T) {
	res := guesttest.Run(upper, guesttest.Step{Inputs: map[string]string{"other": "x"}})
	if res.Err == nil || res.Err.Code != abi.MissingRequiredField {
		t.Fatalf("got %+v, want MISSING_REQUIRED_FIELD", res.Err)
	}
	if len(res.Outputs) != 0 {
		t.Errorf("outputs %v", res.Outputs)
	}
}
