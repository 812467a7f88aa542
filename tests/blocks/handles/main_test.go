package main

import (
	"testing"

	"github.com/beamline/blockhost/abi/guest/guesttest"
)

func TestHandles(t *testing.T) {
	res := guesttest.Run(nil, guesttest.Step{})
	if res.Err != nil || res.Outputs["opened"] != "64" || res.Outputs["status"] != "-6005" {
		t.Fatalf("got %+v", res)
	}
}
