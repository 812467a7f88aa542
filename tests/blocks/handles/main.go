// Command handles is a test block (type test.handles): it opens buffers
// with buffer_new until the host refuses one (or 100000 are open) and
// succeeds with outputs opened (how many it got) and status (the failing
// call's status, e.g. "-6005" for LIMIT_EXCEEDED; "0" if none failed). It
// closes none of them: the host does at the end of the step.
package main

import (
	"strconv"

	"github.com/beamline/blockhost/abi/guest"
)

func init() { guest.Register(handles) }

func handles(s *guest.Step) error {
	opened, status := 0, 0
	for opened < 100000 {
		if _, err := guest.NewBuffer(); err != nil {
			status = -int(guest.CodeOf(err))
			break
		}
		opened++
	}
	if err := s.SetOutput("opened", strconv.Itoa(opened)); err != nil {
		return err
	}
	return s.SetOutput("status", strconv.Itoa(status))
}

func main() {}
