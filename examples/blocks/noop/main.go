// Command noop is the block serving step type noop: it returns at once
// without reading anything, which makes it the baseline of benchmarks.
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o noop.wasm .
package main

import "github.com/beamline/blockhost/abi/guest"

func init() { guest.Register(noop) }

func noop(*guest.Step) error { return nil }

// main never runs: a block is a WASI reactor driven by the host.
func main() {}
