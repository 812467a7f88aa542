// Command hog is a test block (type test.hog) that opens handles of one
// kind until the host refuses one (or 10000 are open) and keeps them all
// open. Input kind picks the handles:
//
//   - "input": input_open of input kind itself;
//   - "output": output_open of outputs hog.0, hog.1, ...;
//   - "blob_read": blob_open_read of blob input key;
//   - "blob_write": blob_open_write of blobs hog/0, hog/1, ..., writing
//     one byte to each;
//   - "http": GET input url, leaving each response body unread.
//
// It then ends as input end says: "report" (the default) fails the step
// with QUOTA_EXCEEDED and the message "opened N KIND handles, then: ERR"
// (ERR the refusal, e.g. blockhost: blob_open_read: LIMIT_EXCEEDED: ...);
// "trap" loads from outside linear memory with every handle still open.
package main

import (
	"strconv"
	"unsafe"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
)

func init() { guest.Register(hog) }

// anchor is a valid address to step outside memory from.
var anchor byte

func hog(s *guest.Step) error {
	kind, _ := s.Input("kind")
	key, _ := s.Input("key")
	url, _ := s.Input("url")
	var open func(i int) error
	switch kind {
	case "input":
		open = func(int) error { _, err := s.InputHandle("kind"); return err }
	case "output":
		open = func(i int) error { _, err := s.OutputWriter("hog." + strconv.Itoa(i)); return err }
	case "blob_read":
		open = func(int) error { _, err := guest.BlobOpenRead(key); return err }
	case "blob_write":
		open = func(i int) error {
			h, err := guest.BlobOpenWrite("hog/" + strconv.Itoa(i))
			if err == nil {
				_, err = h.Write([]byte{'h'})
			}
			return err
		}
	case "http":
		open = func(int) error { _, err := guest.Do(guest.HTTPRequest{URL: url}, guest.NoBody); return err }
	default:
		return guest.Errorf(abi.InvalidInput, "kind %q: want input, output, blob_read, blob_write or http", kind)
	}
	opened := 0
	var err error
	for opened < 10000 {
		if err = open(opened); err != nil {
			break
		}
		opened++
	}
	switch end, _ := s.Input("end"); end {
	case "", "report":
	case "trap":
		p := (*byte)(unsafe.Add(unsafe.Pointer(&anchor), 0xF0000000))
		return guest.Errorf(abi.ExecutionFailed, "read %d outside memory", *p)
	default:
		return guest.Errorf(abi.InvalidInput, "end %q: want report or trap", end)
	}
	msg := "opened " + strconv.Itoa(opened) + " " + kind + " handles"
	if err != nil {
		msg += ", then: " + err.Error()
	}
	return guest.Errorf(abi.QuotaExceeded, "%s", msg)
}

func main() {}
