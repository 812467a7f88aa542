package main

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest/guesttest"
)

func TestPutRaw(t *testing.T) {
	data := string(bytes.Repeat([]byte("0123456789"), 100_000))
	res := guesttest.Run(nil, guesttest.Step{
		Inputs: map[string]string{"key": "dir/blob.bin", "data": data},
		Blobs:  map[string][]byte{},
	})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if string(res.Blobs["dir/blob.bin"]) != data {
		t.Fatalf("blob has %d bytes", len(res.Blobs["dir/blob.bin"]))
	}
	if res.Outputs["key"] != "dir/blob.bin" || res.Outputs["size"] != "1000000" {
		t.Fatalf("outputs %v", res.Outputs)
	}
}

func TestPutEmpty(t *testing.T) {
	res := guesttest.Run(blobPut, guesttest.Step{
		Inputs: map[string]string{"key": "e", "data": ""},
		Blobs:  map[string][]byte{"e": []byte("old")},
	})
	if res.Err != nil || len(res.Blobs["e"]) != 0 || res.Outputs["size"] != "0" {
		t.Fatalf("%+v", res)
	}
}

func TestPutBase64(t *testing.T) {
	raw := bytes.Repeat([]byte{0, 1, 2, 0xff, 0xfe}, 40_000)
	res := guesttest.Run(blobPut, guesttest.Step{
		Inputs: map[string]string{"key": "b", "data": base64.StdEncoding.EncodeToString(raw), "encoding": "base64"},
		Blobs:  map[string][]byte{},
		Limits: guesttest.Limits{ReadChunk: 1000},
	})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if !bytes.Equal(res.Blobs["b"], raw) || res.Outputs["size"] != "200000" {
		t.Fatalf("blob %d bytes, outputs %v", len(res.Blobs["b"]), res.Outputs)
	}
}

func TestPutErrors(t *testing.T) {
	tests := []struct {
		name   string
		inputs map[string]string
		blobs  map[string][]byte
		want   abi.Code
	}{
		{"no key", map[string]string{"data": "x"}, map[string][]byte{}, abi.MissingRequiredField},
		{"no data", map[string]string{"key": "k"}, map[string][]byte{}, abi.MissingRequiredField},
		{"no data b64", map[string]string{"key": "k", "encoding": "base64"}, map[string][]byte{}, abi.MissingRequiredField},
		{"bad encoding", map[string]string{"key": "k", "data": "x", "encoding": "hex"}, map[string][]byte{}, abi.InvalidInput},
		{"bad base64", map[string]string{"key": "k", "data": "!!!notbase64", "encoding": "base64"}, map[string][]byte{}, abi.InvalidFormat},
		{"truncated base64", map[string]string{"key": "k", "data": "aGVsbG8", "encoding": "base64"}, map[string][]byte{}, abi.InvalidFormat},
		{"escape", map[string]string{"key": "../x", "data": "x"}, map[string][]byte{}, abi.Denied},
		{"not granted", map[string]string{"key": "k", "data": "x"}, nil, abi.Denied},
	}
	for _, tt := range tests {
		res := guesttest.Run(blobPut, guesttest.Step{Inputs: tt.inputs, Blobs: tt.blobs})
		if res.Err == nil || res.Err.Code != tt.want {
			t.Errorf("%s: %+v, want %v", tt.name, res.Err, tt.want)
			continue
		}
		if len(res.Blobs) != 0 {
			t.Errorf("%s: wrote %v", tt.name, res.Blobs)
		}
	}
}
