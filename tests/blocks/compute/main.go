// Command compute is a compute-heavy test block (type test.compute): it
// mixes a 64-bit hash over input n iterations (default 1e6) and outputs it,
// so tests and benchmarks can measure guest loops.
package main

import (
	"strconv"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
)

func init() {
	guest.Register(func(s *guest.Step) error {
		n := 1_000_000
		if v, ok := s.Input("n"); ok {
			var err error
			if n, err = strconv.Atoi(v); err != nil {
				return guest.Errorf(abi.InvalidInput, "n %q: %v", v, err)
			}
		}
		h := uint64(14695981039346656037)
		for i := 0; i < n; i++ {
			h ^= uint64(i)
			h *= 1099511628211
		}
		return s.SetOutput("hash", strconv.FormatUint(h, 16))
	})
}

func main() {}
