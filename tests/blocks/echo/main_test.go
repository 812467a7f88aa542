package main

import (
	"strings"
	"testing"

	"github.com/beamline/blockhost/abi/guest"
	"github.com/beamline/blockhost/abi/guest/guesttest"
)

func TestEcho(t *testing.T) {
	big := strings.Repeat("0123456789", 10000)
	for _, mode := range []string{"copy", "handle", "stream"} {
		res := guesttest.Run(nil, guesttest.Step{
			Inputs:  map[string]string{"a": "1", "big": big, "echo_mode": mode, "config_keys": "c1, nope"},
			Config:  map[string]string{"c1": "v1"},
			Context: guest.Context{TenantID: "t", StepType: "test.echo", Attempt: 2},
		})
		if res.Err != nil {
			t.Fatalf("%s: %v", mode, res.Err)
		}
		o := res.Outputs
		if o["a"] != "1" || o["big"] != big || o["echo_mode"] != mode || o["config.c1"] != "v1" ||
			o["ctx.tenant_id"] != "t" || o["ctx.step_type"] != "test.echo" || o["ctx.attempt"] != "2" || o["ctx.trace_id"] != "" {
			t.Errorf("%s: outputs %v", mode, o)
		}
		if _, ok := o["config.nope"]; ok {
			t.Errorf("%s: config.nope set", mode)
		}
		if len(o) != 4+7+1 {
			t.Errorf("%s: %d outputs", mode, len(o))
		}
	}
}
