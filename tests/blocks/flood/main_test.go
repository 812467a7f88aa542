package main

import (
	"testing"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest/guesttest"
)

func TestFlood(t *testing.T) {
	for _, via := range []string{"set", "writer"} {
		res := guesttest.Run(nil, guesttest.Step{Inputs: map[string]string{"bytes": "200000", "via": via, "log_bytes": "2500"}})
		if res.Err != nil || len(res.Outputs["big"]) != 200000 {
			t.Fatalf("%s: %v, %d bytes", via, res.Err, len(res.Outputs["big"]))
		}
		if len(res.Logs) != 3 || len(res.Logs[2].Message) != 2500-2048 {
			t.Errorf("%s: %d log entries", via, len(res.Logs))
		}
		res = guesttest.Run(nil, guesttest.Step{
			Inputs: map[string]string{"bytes": "200000", "via": via},
			Limits: guesttest.Limits{MaxOutputBytes: 100000},
		})
		if res.Err == nil || res.Err.Code.Wire() != abi.QuotaExceeded {
			t.Errorf("%s over the cap: %+v", via, res.Err)
		}
	}
	res := guesttest.Run(nil, guesttest.Step{Inputs: map[string]string{"log_bytes": "100000"}})
	if res.Err != nil || !res.LogTruncated {
		t.Errorf("log flood: %v, truncated %v", res.Err, res.LogTruncated)
	}
}
