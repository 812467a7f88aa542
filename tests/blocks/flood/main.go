// Command flood is a test block (type test.flood). It succeeds after:
//
//   - setting output big to input bytes bytes of 'x' (default 0), with
//     output_set by default or, when input via is "writer", through an
//     output_open handle in 64 KiB writes — the way to pass outputs larger
//     than the block's memory, up to and over the host's output cap; when
//     via is "writers", through input writers (default 1) output_open
//     handles big.0, big.1, ... all open at once, each written bytes bytes
//     in turns of 64 KiB, and a refused write fails the step with the
//     message "wrote N bytes in all to W writers, then: ERR";
//   - producing input log_bytes bytes of log (default 0) in lines of up to
//     1 KiB, through log at info level by default or, when input log_via is
//     "stdout" or "stderr", by writing to that stream.
//
// With input fail set to a code name (e.g. NETWORK_ERROR), it then fails
// with that code instead of succeeding, on every attempt.
//
// Hitting the output cap fails the step (the host reports QUOTA_EXCEEDED);
// the log cap only truncates.
package main

import (
	"bytes"
	"io"
	"os"
	"strconv"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
)

func init() { guest.Register(flood) }

func intInput(s *guest.Step, key string) (int, error) {
	v, ok := s.Input(key)
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, guest.Errorf(abi.InvalidInput, "%s %q: want an integer >= 0", key, v)
	}
	return n, nil
}

func flood(s *guest.Step) error {
	size, err := intInput(s, "bytes")
	if err != nil {
		return err
	}
	logBytes, err := intInput(s, "log_bytes")
	if err != nil {
		return err
	}
	if err := logFlood(s, logBytes); err != nil {
		return err
	}
	if name, ok := s.Input("fail"); ok {
		code, known := abi.ParseCode(name)
		if !known {
			return guest.Errorf(abi.InvalidInput, "fail %q: unknown code", name)
		}
		return guest.Errorf(code, "flood: failing with %s as asked", code)
	}
	if size == 0 {
		return nil
	}
	switch via, _ := s.Input("via"); via {
	case "", "set":
		return s.SetOutputBytes("big", bytes.Repeat([]byte{'x'}, size))
	case "writer":
		w, err := s.OutputWriter("big")
		if err != nil {
			return err
		}
		chunk := bytes.Repeat([]byte{'x'}, 64<<10)
		for left := size; left > 0; left -= len(chunk) {
			if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
				w.Close()
				return err
			}
		}
		return w.Close()
	case "writers":
		return floodWriters(s, size)
	default:
		return guest.Errorf(abi.InvalidInput, "via %q: want set, writer or writers", via)
	}
}

func floodWriters(s *guest.Step, size int) error {
	n, err := intInput(s, "writers")
	if err != nil {
		return err
	}
	ws := make([]io.WriteCloser, max(n, 1))
	for i := range ws {
		if ws[i], err = s.OutputWriter("big." + strconv.Itoa(i)); err != nil {
			return err
		}
	}
	chunk := bytes.Repeat([]byte{'x'}, 64<<10)
	total := 0
	for left := size; left > 0; left -= len(chunk) {
		part := chunk[:min(left, len(chunk))]
		for _, w := range ws {
			if _, err := w.Write(part); err != nil {
				return guest.Errorf(guest.CodeOf(err), "wrote %d bytes in all to %d writers, then: %v", total, len(ws), err)
			}
			total += len(part)
		}
	}
	for _, w := range ws {
		if err := w.Close(); err != nil {
			return err
		}
	}
	return nil
}

func logFlood(s *guest.Step, n int) error {
	line := append(bytes.Repeat([]byte{'l'}, 1023), '\n')
	via, _ := s.Input("log_via")
	for n > 0 {
		part := line[len(line)-min(n, len(line)):]
		n -= len(part)
		switch via {
		case "", "log":
			s.Log(guest.LevelInfo, string(part))
		case "stdout":
			os.Stdout.Write(part)
		case "stderr":
			os.Stderr.Write(part)
		default:
			return guest.Errorf(abi.InvalidInput, "log_via %q: want log, stdout or stderr", via)
		}
	}
	return nil
}

func main() {}
