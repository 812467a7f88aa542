// Command counter is a test block with state that survives between steps in
// one instance: it outputs how many steps this instance has served, so
// tests can see whether an instance was reused.
package main

import (
	"strconv"

	"github.com/beamline/blockhost/abi/guest"
)

var served int

func init() {
	guest.Register(func(s *guest.Step) error {
		served++
		return s.SetOutput("served", strconv.Itoa(served))
	})
}

func main() {}
