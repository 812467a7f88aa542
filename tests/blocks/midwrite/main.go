// Command midwrite is a test block (type test.midwrite) that leaves work
// half done and then ends, normally or not. It first:
//
//   - sets output early to "1";
//   - opens output partial (output_open) and writes input bytes bytes of
//     'o' to it (default 65536);
//   - opens blob input key (blob_open_write; default "midwrite/blob.bin")
//     and writes input bytes bytes of 'b' to it — skipped when key is "-";
//   - writes the same number of bytes into a buffer (buffer_new);
//   - when input url is set, requests it (GET) and keeps the response
//     handle open without reading it;
//
// leaving every handle open, then ends as input end says:
//
//   - "return" (the default): succeeds, so the host commits what is open;
//   - "fail": returns an EXECUTION_FAILED error;
//   - "trap": loads from outside linear memory (a wasm trap);
//   - "exit": os.Exit(3) (WASI proc_exit);
//   - "panic": an unrecovered panic in another goroutine (the Go runtime
//     aborts: a trap, with the panic on stderr);
//   - "sleep": sleeps for an hour (WASI poll_oneoff), to be interrupted
//     inside that host call;
//   - "read": reads the response body of url to its end (handle_read), to
//     be interrupted inside that host call when the server stalls.
package main

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"time"
	"unsafe"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
)

func init() { guest.Register(midwrite) }

// anchor is a valid address to step outside memory from.
var anchor byte

func midwrite(s *guest.Step) error {
	n := 65536
	if v, ok := s.Input("bytes"); ok {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			return guest.Errorf(abi.InvalidInput, "bytes %q: want an integer >= 0", v)
		}
	}
	key, ok := s.Input("key")
	if !ok {
		key = "midwrite/blob.bin"
	}
	if err := s.SetOutput("early", "1"); err != nil {
		return err
	}
	w, err := s.OutputWriter("partial")
	if err != nil {
		return err
	}
	if _, err := w.Write(bytes.Repeat([]byte{'o'}, n)); err != nil {
		return err
	}
	if key != "-" {
		b, err := guest.BlobOpenWrite(key)
		if err != nil {
			return err
		}
		if _, err := b.Write(bytes.Repeat([]byte{'b'}, n)); err != nil {
			return err
		}
	}
	buf, err := guest.NewBuffer()
	if err != nil {
		return err
	}
	if _, err := buf.Write(bytes.Repeat([]byte{'u'}, n)); err != nil {
		return err
	}
	var body io.Reader
	if url, ok := s.Input("url"); ok {
		resp, err := guest.Do(guest.HTTPRequest{URL: url}, guest.NoBody)
		if err != nil {
			return err
		}
		body = resp.Body
	}
	switch end, _ := s.Input("end"); end {
	case "", "return":
		return nil
	case "fail":
		return guest.Errorf(abi.ExecutionFailed, "midwrite: failing with handles open")
	case "trap":
		// 3.75 GiB past a static variable: beyond any memory a host grants.
		p := (*byte)(unsafe.Add(unsafe.Pointer(&anchor), 0xF0000000))
		return guest.Errorf(abi.ExecutionFailed, "read %d outside memory", *p)
	case "exit":
		os.Exit(3)
	case "panic":
		go func() { panic("midwrite: unrecovered panic with handles open") }()
		select {}
	case "sleep":
		time.Sleep(time.Hour)
		return guest.Errorf(abi.ExecutionFailed, "midwrite: slept an hour")
	case "read":
		if body == nil {
			return guest.Errorf(abi.InvalidInput, "end read needs input url")
		}
		_, err := io.Copy(io.Discard, body)
		return err
	default:
		return guest.Errorf(abi.InvalidInput, "end %q: want return, fail, trap, exit, panic, sleep or read", end)
	}
	return nil
}

func main() {}
