// Command membomb is a test block (type test.membomb): it allocates chunks
// of input mb MiB (default 1), touching every page and keeping them all,
// until the Go runtime cannot grow linear memory and aborts (a trap after
// "fatal error: out of memory" on stderr). With input max_mb it stops once
// that much is held and succeeds with output allocated_mb.
package main

import (
	"strconv"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
)

func init() { guest.Register(membomb) }

var hoard [][]byte

func membomb(s *guest.Step) error {
	chunk, limit := 1, 0
	if v, ok := s.Input("mb"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return guest.Errorf(abi.InvalidInput, "mb %q: want a positive integer", v)
		}
		chunk = n
	}
	if v, ok := s.Input("max_mb"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return guest.Errorf(abi.InvalidInput, "max_mb %q: want an integer >= 0", v)
		}
		limit = n
	}
	held := 0
	for limit == 0 || held < limit {
		b := make([]byte, chunk<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		hoard = append(hoard, b)
		held += chunk
	}
	hoard = nil
	return s.SetOutput("allocated_mb", strconv.Itoa(held))
}

func main() {}
