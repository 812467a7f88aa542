// Package sandbox says what a block may do: its manifest and capabilities,
// the memory, size and log limits it runs under, and (with the HTTP and FS
// capabilities) the egress rule and the filesystem jail.
package sandbox
