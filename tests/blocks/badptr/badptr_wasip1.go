//go:build wasip1

package main

import (
	"strconv"
	"unsafe"

	"github.com/beamline/blockhost/abi/guest"
)

// Raw imports with plain integers for pointers, so any address can be
// passed.

//go:wasmimport blockhost input_len
func inputLen(keyPtr, keyLen uint32) int64

//go:wasmimport blockhost input_read
func inputRead(keyPtr, keyLen uint32, offset int64, bufPtr, bufLen uint32) int32

//go:wasmimport blockhost input_open
func inputOpen(keyPtr, keyLen uint32) int32

//go:wasmimport blockhost input_keys
func inputKeys(bufPtr, bufLen uint32) int32

//go:wasmimport blockhost inputs_json
func inputsJSON(bufPtr, bufLen uint32) int32

//go:wasmimport blockhost output_set
func outputSet(keyPtr, keyLen, valPtr, valLen uint32) int32

//go:wasmimport blockhost output_open
func outputOpen(keyPtr, keyLen uint32) int32

//go:wasmimport blockhost output_from_handle
func outputFromHandle(keyPtr, keyLen uint32, h int32) int32

//go:wasmimport blockhost context_get
func contextGet(keyPtr, keyLen, bufPtr, bufLen uint32) int32

//go:wasmimport blockhost config_get
func configGet(keyPtr, keyLen, bufPtr, bufLen uint32) int32

//go:wasmimport blockhost log
func hostLog(level int32, msgPtr, msgLen uint32) int32

//go:wasmimport blockhost error_set
func errorSet(code int32, msgPtr, msgLen uint32, httpStatus, retryAfterMS, retryable int32) int32

//go:wasmimport blockhost last_error
func lastError(bufPtr, bufLen uint32) int32

//go:wasmimport blockhost handle_read
func handleRead(h int32, bufPtr, bufLen uint32) int32

//go:wasmimport blockhost handle_write
func handleWrite(h int32, bufPtr, bufLen uint32) int32

//go:wasmimport blockhost buffer_new
func bufferNew() int32

//go:wasmimport blockhost http_request
func httpRequest(reqPtr, reqLen uint32, body int32) int32

//go:wasmimport blockhost http_response_meta
func httpResponseMeta(h int32, bufPtr, bufLen uint32) int32

//go:wasmimport blockhost blob_open_read
func blobOpenRead(keyPtr, keyLen uint32) int32

//go:wasmimport blockhost blob_open_write
func blobOpenWrite(keyPtr, keyLen uint32) int32

//go:wasmimport blockhost blob_put_from
func blobPutFrom(keyPtr, keyLen uint32, h int32) int32

//go:wasmimport blockhost blob_delete
func blobDelete(keyPtr, keyLen uint32) int32

//go:wasmimport blockhost blob_stat
func blobStat(keyPtr, keyLen, bufPtr, bufLen uint32) int32

//go:wasmimport blockhost blob_list
func blobList(prefixPtr, prefixLen, bufPtr, bufLen uint32) int32

// span is a pointer/length pair.
type span struct{ ptr, len uint32 }

var (
	high = span{0xFFFFFFF0, 64}
	huge = span{0, 0xFFFFFFFF}
	// A valid key and buffer in the block's own memory.
	keyText = "badptr"
	buf     [64]byte
)

func key() span {
	return span{uint32(uintptr(unsafe.Pointer(unsafe.StringData(keyText)))), uint32(len(keyText))}
}
func out() span { return span{uint32(uintptr(unsafe.Pointer(&buf[0]))), uint32(len(buf))} }

// call is one host function called with one or two pointer pairs.
type call struct {
	name  string
	pairs []string // parameter names of the pairs
	valid []span   // valid value of each pair
	do    func(p []span) int64
}

func calls() []call {
	k, o := []string{"key"}, []string{"buf"}
	kb := []string{"key", "buf"}
	return []call{
		{"input_len", k, []span{key()}, func(p []span) int64 { return inputLen(p[0].ptr, p[0].len) }},
		{"input_read", kb, []span{key(), out()}, func(p []span) int64 {
			return int64(inputRead(p[0].ptr, p[0].len, 0, p[1].ptr, p[1].len))
		}},
		{"input_open", k, []span{key()}, func(p []span) int64 { return int64(inputOpen(p[0].ptr, p[0].len)) }},
		{"input_keys", o, []span{out()}, func(p []span) int64 { return int64(inputKeys(p[0].ptr, p[0].len)) }},
		{"inputs_json", o, []span{out()}, func(p []span) int64 { return int64(inputsJSON(p[0].ptr, p[0].len)) }},
		{"output_set", []string{"key", "val"}, []span{key(), out()}, func(p []span) int64 {
			return int64(outputSet(p[0].ptr, p[0].len, p[1].ptr, p[1].len))
		}},
		{"output_open", k, []span{key()}, func(p []span) int64 { return int64(outputOpen(p[0].ptr, p[0].len)) }},
		{"output_from_handle", k, []span{key()}, func(p []span) int64 {
			return int64(outputFromHandle(p[0].ptr, p[0].len, bufferNew()))
		}},
		{"context_get", kb, []span{key(), out()}, func(p []span) int64 {
			return int64(contextGet(p[0].ptr, p[0].len, p[1].ptr, p[1].len))
		}},
		{"config_get", kb, []span{key(), out()}, func(p []span) int64 {
			return int64(configGet(p[0].ptr, p[0].len, p[1].ptr, p[1].len))
		}},
		{"log", []string{"msg"}, []span{key()}, func(p []span) int64 { return int64(hostLog(1, p[0].ptr, p[0].len)) }},
		{"error_set", []string{"msg"}, []span{key()}, func(p []span) int64 {
			return int64(errorSet(2001, p[0].ptr, p[0].len, 0, 0, 0))
		}},
		{"last_error", o, []span{out()}, func(p []span) int64 { return int64(lastError(p[0].ptr, p[0].len)) }},
		{"handle_read", o, []span{out()}, func(p []span) int64 { return int64(handleRead(bufferNew(), p[0].ptr, p[0].len)) }},
		{"handle_write", o, []span{out()}, func(p []span) int64 { return int64(handleWrite(bufferNew(), p[0].ptr, p[0].len)) }},
		{"http_request", []string{"req"}, []span{key()}, func(p []span) int64 {
			return int64(httpRequest(p[0].ptr, p[0].len, bufferNew()))
		}},
		{"http_response_meta", o, []span{out()}, func(p []span) int64 {
			return int64(httpResponseMeta(bufferNew(), p[0].ptr, p[0].len))
		}},
		{"blob_open_read", k, []span{key()}, func(p []span) int64 { return int64(blobOpenRead(p[0].ptr, p[0].len)) }},
		{"blob_open_write", k, []span{key()}, func(p []span) int64 { return int64(blobOpenWrite(p[0].ptr, p[0].len)) }},
		{"blob_put_from", k, []span{key()}, func(p []span) int64 {
			return int64(blobPutFrom(p[0].ptr, p[0].len, bufferNew()))
		}},
		{"blob_delete", k, []span{key()}, func(p []span) int64 { return int64(blobDelete(p[0].ptr, p[0].len)) }},
		{"blob_stat", kb, []span{key(), out()}, func(p []span) int64 {
			return int64(blobStat(p[0].ptr, p[0].len, p[1].ptr, p[1].len))
		}},
		{"blob_list", []string{"prefix", "buf"}, []span{key(), out()}, func(p []span) int64 {
			return int64(blobList(p[0].ptr, p[0].len, p[1].ptr, p[1].len))
		}},
	}
}

func init() { guest.Register(badptr) }

func badptr(s *guest.Step) error {
	results := map[string]int64{}
	for _, c := range calls() {
		all := func(sp span) []span {
			p := make([]span, len(c.pairs))
			for i := range p {
				p[i] = sp
			}
			return p
		}
		results[c.name] = c.do(all(high))
		results[c.name+".huge"] = c.do(all(huge))
		if len(c.pairs) > 1 {
			for i, name := range c.pairs {
				p := append([]span(nil), c.valid...)
				p[i] = high
				results[c.name+"."+name] = c.do(p)
			}
		}
	}
	for k, v := range results {
		if err := s.SetOutput(k, strconv.FormatInt(v, 10)); err != nil {
			return err
		}
	}
	return nil
}
