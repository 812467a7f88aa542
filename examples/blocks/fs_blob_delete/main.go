// Command fs_blob_delete is the first-party block serving step type
// fs.blob_delete: it deletes blob "key" through the host's blob capability.
//
// Inputs: key (required).
// Outputs: deleted: "true" when the blob was deleted, "false" when there
// was none. Deleting an absent blob succeeds, so a retry after a delete
// whose outcome was unknown (a timeout) does not fail.
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o fs_blob_delete.wasm .
package main

import (
	"errors"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
)

func init() { guest.Register(blobDelete) }

func blobDelete(s *guest.Step) error {
	key, ok := s.Input("key")
	if !ok || key == "" {
		return guest.Errorf(abi.MissingRequiredField, "input %q is required", "key")
	}
	deleted := "true"
	if err := guest.BlobDelete(key); errors.Is(err, guest.ErrNotFound) {
		deleted = "false"
	} else if err != nil {
		return err
	}
	return s.SetOutput("deleted", deleted)
}

// main never runs: a block is a WASI reactor driven by the host.
func main() {}
