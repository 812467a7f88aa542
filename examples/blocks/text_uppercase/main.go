// Command text_uppercase is the block serving step type text.uppercase:
// input "text" becomes output "text" in upper case.
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o text_uppercase.wasm .
package main

import (
	"strings"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
)

func init() { guest.Register(upper) }

func upper(s *guest.Step) error {
	text, ok := s.Input("text")
	if !ok {
		return guest.Errorf(abi.MissingRequiredField, "input %q is required", "text")
	}
	return s.SetOutput("text", strings.ToUpper(text))
}

// main never runs: a block is a WASI reactor driven by the host.
func main() {}
