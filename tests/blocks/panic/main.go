// Command panic is a test block (type test.panic) that ends its instance
// for real. It does not use the guest SDK, whose entry point recovers
// panics: it exports blockhost_run_v1 itself (panic_wasip1.go). Input how
// picks the ending:
//
//   - "panic" (the default): an unrecovered Go panic. The Go runtime writes
//     "panic: test block panic" and a goroutine trace to stderr, then
//     aborts: the call ends in a wasm trap (unreachable, in
//     runtime.abort).
//   - "exit": os.Exit(3): the call ends in WASI proc_exit(3).
//   - "trap": a load from outside linear memory: the call ends in a wasm
//     trap (out of bounds memory access) with nothing on stderr.
//
// Natively the package is empty.
package main

func main() {}
