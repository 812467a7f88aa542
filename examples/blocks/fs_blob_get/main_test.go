package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"testing"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest/guesttest"
)

func TestGet(t *testing.T) {
	blob := bytes.Repeat([]byte{1, 2, 3, 0, 0xff}, 70_001) // several chunks
	sum := sha256.Sum256(blob)
	for _, enc := range []string{"", "base64"} {
		inputs := map[string]string{"key": "a/b"}
		want := string(blob)
		if enc != "" {
			inputs["encoding"] = enc
			want = base64.StdEncoding.EncodeToString(blob)
		}
		res := guesttest.Run(nil, guesttest.Step{
			Inputs: inputs,
			Blobs:  map[string][]byte{"a/b": blob},
			Limits: guesttest.Limits{ReadChunk: 10_000},
		})
		if res.Err != nil {
			t.Fatalf("%q: %v", enc, res.Err)
		}
		if res.Outputs["data"] != want {
			t.Errorf("%q: data %d bytes, want %d", enc, len(res.Outputs["data"]), len(want))
		}
		if res.Outputs["size"] != strconv.Itoa(len(blob)) || res.Outputs["sha256"] != hex.EncodeToString(sum[:]) {
			t.Errorf("%q: size %s sha256 %s", enc, res.Outputs["size"], res.Outputs["sha256"])
		}
	}
}

func TestGetWithoutHash(t *testing.T) {
	blob := bytes.Repeat([]byte("xyz"), 100_000)
	for _, enc := range []string{"", "base64"} {
		res := guesttest.Run(blobGet, guesttest.Step{
			Inputs: map[string]string{"key": "k", "sha256": "false", "encoding": enc},
			Blobs:  map[string][]byte{"k": blob},
		})
		want := string(blob)
		if enc != "" {
			want = base64.StdEncoding.EncodeToString(blob)
		}
		if res.Err != nil || res.Outputs["data"] != want || res.Outputs["size"] != "300000" {
			t.Fatalf("%q: %v, %d bytes, size %s", enc, res.Err, len(res.Outputs["data"]), res.Outputs["size"])
		}
		if _, ok := res.Outputs["sha256"]; ok {
			t.Errorf("%q: sha256 output with sha256=false", enc)
		}
	}
}

func TestGetEmpty(t *testing.T) {
	res := guesttest.Run(blobGet, guesttest.Step{Inputs: map[string]string{"key": "e"}, Blobs: map[string][]byte{"e": nil}})
	if res.Err != nil || res.Outputs["data"] != "" || res.Outputs["size"] != "0" ||
		res.Outputs["sha256"] != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("%+v", res)
	}
}

func TestGetErrors(t *testing.T) {
	tests := []struct {
		name   string
		inputs map[string]string
		blobs  map[string][]byte
		want   abi.Code
	}{
		{"no key", map[string]string{}, map[string][]byte{}, abi.MissingRequiredField},
		{"missing", map[string]string{"key": "nope"}, map[string][]byte{}, abi.NotFound},
		{"bad encoding", map[string]string{"key": "k", "encoding": "hex"}, map[string][]byte{"k": nil}, abi.InvalidInput},
		{"bad sha256", map[string]string{"key": "k", "sha256": "no"}, map[string][]byte{"k": nil}, abi.InvalidInput},
		{"escape", map[string]string{"key": "/etc/passwd"}, map[string][]byte{}, abi.Denied},
		{"not granted", map[string]string{"key": "k"}, nil, abi.Denied},
	}
	for _, tt := range tests {
		res := guesttest.Run(blobGet, guesttest.Step{Inputs: tt.inputs, Blobs: tt.blobs})
		if res.Err == nil || res.Err.Code != tt.want {
			t.Errorf("%s: %+v, want %v", tt.name, res.Err, tt.want)
		}
	}
}

func TestGetOutputCap(t *testing.T) {
	res := guesttest.Run(blobGet, guesttest.Step{
		Inputs: map[string]string{"key": "big"},
		Blobs:  map[string][]byte{"big": make([]byte, 200_000)},
		Limits: guesttest.Limits{MaxOutputBytes: 100_000},
	})
	if res.Err == nil || res.Err.Code != abi.LimitExceeded && res.Err.Code != abi.QuotaExceeded {
		t.Fatalf("%+v", res.Err)
	}
}
