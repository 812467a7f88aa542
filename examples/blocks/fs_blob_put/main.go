// Command fs_blob_put is the first-party block serving step type
// fs.blob_put: it writes input "data" to blob "key" through the host's blob
// capability, atomically and durably.
//
// Inputs: key (required), data (required; may be empty), encoding
// (optional: "base64" when data is base64, standard alphabet with padding).
// Outputs: key, and size, the blob's length in bytes (decimal).
//
// Raw data never enters guest memory: the input's handle goes straight to
// blob_put_from. Base64 data is decoded in chunks into a host buffer, which
// is then written the same way, so a malformed input writes nothing.
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o fs_blob_put.wasm .
package main

import (
	"encoding/base64"
	"errors"
	"io"
	"strconv"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
)

func init() { guest.Register(blobPut) }

// chunk is the guest buffer base64 data is decoded through (an instance
// runs one step at a time).
var chunk = make([]byte, 48<<10)

func blobPut(s *guest.Step) error {
	key, ok := s.Input("key")
	if !ok || key == "" {
		return guest.Errorf(abi.MissingRequiredField, "input %q is required", "key")
	}
	enc, _ := s.Input("encoding")
	var src guest.Handle
	var size int64
	switch enc {
	case "":
		h, err := s.InputHandle("data")
		if err != nil {
			return missingData(err)
		}
		if size, err = h.Size(); err != nil {
			h.Close()
			return err
		}
		src = h
	case "base64":
		var err error
		if src, size, err = decodeBase64(s); err != nil {
			return err
		}
	default:
		return guest.Errorf(abi.InvalidInput, "input %q: want %q or nothing, got %q", "encoding", "base64", enc)
	}
	if err := guest.BlobPutFrom(key, src); err != nil {
		return err
	}
	if err := s.SetOutput("key", key); err != nil {
		return err
	}
	return s.SetOutput("size", strconv.FormatInt(size, 10))
}

// decodeBase64 decodes input "data" into a new host buffer and returns it
// with the decoded length.
func decodeBase64(s *guest.Step) (guest.Handle, int64, error) {
	buf, err := guest.NewBuffer()
	if err != nil {
		return 0, 0, err
	}
	dec := base64.NewDecoder(base64.StdEncoding, s.InputReader("data"))
	n, err := io.CopyBuffer(buf, onlyReader{dec}, chunk)
	if err != nil {
		buf.Close()
		var corrupt base64.CorruptInputError
		if errors.As(err, &corrupt) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, 0, guest.Errorf(abi.InvalidFormat, "input %q is not valid base64: %v", "data", err)
		}
		return 0, 0, missingData(err)
	}
	return buf, n, nil
}

func missingData(err error) error {
	if errors.Is(err, guest.ErrNotFound) {
		return guest.Errorf(abi.MissingRequiredField, "input %q is required", "data")
	}
	return err
}

// onlyReader hides any WriterTo, so CopyBuffer uses chunk.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// main never runs: a block is a WASI reactor driven by the host.
func main() {}
