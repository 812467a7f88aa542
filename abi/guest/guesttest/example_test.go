package guesttest_test

import (
	"fmt"
	"strings"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
	"github.com/beamline/blockhost/abi/guest/guesttest"
)

func upper(s *guest.Step) error {
	text, ok := s.Input("text")
	if !ok {
		return guest.Errorf(abi.MissingRequiredField, "input %q is required", "text")
	}
	s.Infof("upper-casing %d bytes", len(text))
	return s.SetOutput("text", strings.ToUpper(text))
}

func ExampleRun() {
	res := guesttest.Run(upper, guesttest.Step{Inputs: map[string]string{"text": "hello"}})
	fmt.Println(res.Outputs["text"], res.Err == nil, res.Logs[0].Message)

	res = guesttest.Run(upper, guesttest.Step{})
	fmt.Println(res.Err.Code, res.Err.Message)
	// Output:
	// HELLO true upper-casing 5 bytes
	// MISSING_REQUIRED_FIELD input "text" is required
}
