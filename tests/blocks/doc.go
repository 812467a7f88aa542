// Package blocks holds the test blocks that host integration tests run:
// one main package per directory, built to NAME.wasm by
// internal/testblocks.Dir with a manifest naming step type test.NAME.
// Each block's doc comment states its inputs, outputs and how it ends.
package blocks
