package main

import (
	"testing"

	"github.com/beamline/blockhost/abi/guest/guesttest"
)

func TestNoop(t *testing.T) {
	res := guesttest.Run(nil, guesttest.Step{Inputs: map[string]string{"ignored": "x"}})
	if res.Err != nil || len(res.Outputs) != 0 || len(res.Logs) != 0 {
		t.Fatalf("got %+v, want success and nothing else", res)
	}
}
