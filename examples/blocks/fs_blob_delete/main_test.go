package main

import (
	"testing"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest/guesttest"
)

func TestDelete(t *testing.T) {
	res := guesttest.Run(nil, guesttest.Step{
		Inputs: map[string]string{"key": "a/b"},
		Blobs:  map[string][]byte{"a/b": []byte("x"), "a/c": []byte("y")},
	})
	if res.Err != nil || res.Outputs["deleted"] != "true" {
		t.Fatalf("%+v", res)
	}
	if _, ok := res.Blobs["a/b"]; ok || len(res.Blobs) != 1 {
		t.Fatalf("blobs %v", res.Blobs)
	}
}

func TestDeleteAbsentIsIdempotent(t *testing.T) {
	res := guesttest.Run(blobDelete, guesttest.Step{Inputs: map[string]string{"key": "gone"}, Blobs: map[string][]byte{}})
	if res.Err != nil || res.Outputs["deleted"] != "false" {
		t.Fatalf("%+v", res)
	}
}

func TestDeleteErrors(t *testing.T) {
	tests := []struct {
		name   string
		inputs map[string]string
		blobs  map[string][]byte
		want   abi.Code
	}{
		{"no key", map[string]string{}, map[string][]byte{}, abi.MissingRequiredField},
		{"escape", map[string]string{"key": "../../x"}, map[string][]byte{}, abi.Denied},
		{"not granted", map[string]string{"key": "k"}, nil, abi.Denied},
	}
	for _, tt := range tests {
		res := guesttest.Run(blobDelete, guesttest.Step{Inputs: tt.inputs, Blobs: tt.blobs})
		if res.Err == nil || res.Err.Code != tt.want {
			t.Errorf("%s: %+v, want %v", tt.name, res.Err, tt.want)
		}
	}
}
