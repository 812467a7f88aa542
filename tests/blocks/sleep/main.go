// Command sleep is a test block (type test.sleep): it sleeps input ms
// milliseconds (time.Sleep, i.e. WASI poll_oneoff) and succeeds with output
// slept_ms, the milliseconds that actually passed (monotonic clock).
package main

import (
	"strconv"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
)

func init() { guest.Register(sleep) }

func sleep(s *guest.Step) error {
	v, _ := s.Input("ms")
	ms, err := strconv.Atoi(v)
	if err != nil {
		return guest.Errorf(abi.InvalidInput, "ms %q: %v", v, err)
	}
	start := time.Now()
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return s.SetOutput("slept_ms", strconv.FormatInt(time.Since(start).Milliseconds(), 10))
}

func main() {}
