//go:build wasip1

package main

import (
	"os"
	"unsafe"
)

//go:wasmimport blockhost input_len
func inputLen(key string) int64

//go:wasmimport blockhost input_read
func inputRead(key string, offset int64, buf unsafe.Pointer, bufLen uint32) int32

// anchor is a valid address to step outside memory from.
var anchor byte

//go:wasmexport blockhost_run_v1
func run() int32 {
	how := "panic"
	if n := inputLen("how"); n > 0 && n < 64 {
		buf := make([]byte, n)
		inputRead("how", 0, unsafe.Pointer(&buf[0]), uint32(n))
		how = string(buf)
	}
	switch how {
	case "exit":
		os.Exit(3)
	case "trap":
		// 3.75 GiB past a static variable: beyond any memory a host grants.
		p := (*byte)(unsafe.Add(unsafe.Pointer(&anchor), 0xF0000000))
		return int32(*p)
	}
	panic("test block panic")
}
