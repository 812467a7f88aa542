// Package conformance holds the conformance kit: one table of behaviours
// (README.md) run against the conformance block of every SDK language —
// Go, C, Rust, AssemblyScript and hand-written WAT — through a real host.
// The tests are the kit: go test ./tests/conformance.
package conformance
