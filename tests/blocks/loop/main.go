// Command loop is a test block (type test.loop): an endless CPU loop that
// calls no host function and never returns; only the host's interruption
// (the step's deadline or cancellation) ends it. The loop tests an atomic
// flag nothing sets, which the compiler cannot prove constant.
package main

import (
	"strconv"
	"sync/atomic"

	"github.com/beamline/blockhost/abi/guest"
)

func init() { guest.Register(loop) }

var (
	stop atomic.Bool
	n    uint64
)

func loop(s *guest.Step) error {
	for !stop.Load() {
		n++
	}
	return s.SetOutput("iterations", strconv.FormatUint(n, 10))
}

func main() {}
