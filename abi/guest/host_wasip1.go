//go:build wasip1

package guest

import (
	"unsafe"

	"github.com/beamline/blockhost/abi/guest/internal/hostabi"
)

// The imports of module "blockhost" (abi/ABI.md). A Go string parameter is
// passed as (pointer, length); buffers as an explicit pointer and length.

//go:wasmimport blockhost input_len
func inputLen(key string) int64

//go:wasmimport blockhost input_read
func inputRead(key string, offset int64, buf unsafe.Pointer, bufLen uint32) int32

//go:wasmimport blockhost input_open
func inputOpen(key string) int32

//go:wasmimport blockhost input_keys
func inputKeys(buf unsafe.Pointer, bufLen uint32) int32

//go:wasmimport blockhost inputs_json
func inputsJSON(buf unsafe.Pointer, bufLen uint32) int32

//go:wasmimport blockhost output_set
func outputSet(key string, val unsafe.Pointer, valLen uint32) int32

//go:wasmimport blockhost output_open
func outputOpen(key string) int32

//go:wasmimport blockhost output_from_handle
func outputFromHandle(key string, h int32) int32

//go:wasmimport blockhost context_get
func contextGet(key string, buf unsafe.Pointer, bufLen uint32) int32

//go:wasmimport blockhost config_get
func configGet(key string, buf unsafe.Pointer, bufLen uint32) int32

//go:wasmimport blockhost log
func hostLog(level int32, msg string) int32

//go:wasmimport blockhost error_set
func errorSet(code int32, msg string, httpStatus, retryAfterMS, retryable int32) int32

//go:wasmimport blockhost last_error
func lastError(buf unsafe.Pointer, bufLen uint32) int32

//go:wasmimport blockhost handle_read
func handleRead(h int32, buf unsafe.Pointer, bufLen uint32) int32

//go:wasmimport blockhost handle_write
func handleWrite(h int32, buf unsafe.Pointer, bufLen uint32) int32

//go:wasmimport blockhost handle_size
func handleSize(h int32) int64

//go:wasmimport blockhost handle_close
func handleClose(h int32) int32

//go:wasmimport blockhost buffer_new
func bufferNew() int32

//go:wasmimport blockhost http_request
func httpRequest(req unsafe.Pointer, reqLen uint32, body int32) int32

//go:wasmimport blockhost http_response_meta
func httpResponseMeta(h int32, buf unsafe.Pointer, bufLen uint32) int32

//go:wasmimport blockhost blob_open_read
func blobOpenRead(key string) int32

//go:wasmimport blockhost blob_open_write
func blobOpenWrite(key string) int32

//go:wasmimport blockhost blob_put_from
func blobPutFrom(key string, h int32) int32

//go:wasmimport blockhost blob_delete
func blobDelete(key string) int32

//go:wasmimport blockhost blob_stat
func blobStat(key string, buf unsafe.Pointer, bufLen uint32) int32

//go:wasmimport blockhost blob_list
func blobList(prefix string, buf unsafe.Pointer, bufLen uint32) int32

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

// wasmHost calls the imports.
type wasmHost struct{}

var _ hostabi.Host = wasmHost{}

func (wasmHost) InputLen(key string) int64 { return inputLen(key) }
func (wasmHost) InputRead(key string, off int64, buf []byte) int32 {
	return inputRead(key, off, ptr(buf), uint32(len(buf)))
}
func (wasmHost) InputOpen(key string) int32        { return inputOpen(key) }
func (wasmHost) InputKeys(buf []byte) int32        { return inputKeys(ptr(buf), uint32(len(buf))) }
func (wasmHost) InputsJSON(buf []byte) int32       { return inputsJSON(ptr(buf), uint32(len(buf))) }
func (wasmHost) OutputOpen(key string) int32       { return outputOpen(key) }
func (wasmHost) BufferNew() int32                  { return bufferNew() }
func (wasmHost) HandleSize(h int32) int64          { return handleSize(h) }
func (wasmHost) HandleClose(h int32) int32         { return handleClose(h) }
func (wasmHost) BlobOpenRead(key string) int32     { return blobOpenRead(key) }
func (wasmHost) BlobOpenWrite(key string) int32    { return blobOpenWrite(key) }
func (wasmHost) BlobDelete(key string) int32       { return blobDelete(key) }
func (wasmHost) Log(level int32, msg string) int32 { return hostLog(level, msg) }
func (wasmHost) LastError(buf []byte) int32        { return lastError(ptr(buf), uint32(len(buf))) }
func (wasmHost) OutputSet(key string, val []byte) int32 {
	return outputSet(key, ptr(val), uint32(len(val)))
}
func (wasmHost) OutputFromHandle(key string, h int32) int32 { return outputFromHandle(key, h) }
func (wasmHost) ContextGet(key string, buf []byte) int32 {
	return contextGet(key, ptr(buf), uint32(len(buf)))
}
func (wasmHost) ConfigGet(key string, buf []byte) int32 {
	return configGet(key, ptr(buf), uint32(len(buf)))
}
func (wasmHost) ErrorSet(code int32, msg string, httpStatus, retryAfterMS, retryable int32) int32 {
	return errorSet(code, msg, httpStatus, retryAfterMS, retryable)
}
func (wasmHost) HandleRead(h int32, buf []byte) int32 {
	return handleRead(h, ptr(buf), uint32(len(buf)))
}
func (wasmHost) HandleWrite(h int32, buf []byte) int32 {
	return handleWrite(h, ptr(buf), uint32(len(buf)))
}
func (wasmHost) HTTPRequest(req []byte, body int32) int32 {
	return httpRequest(ptr(req), uint32(len(req)), body)
}
func (wasmHost) HTTPResponseMeta(h int32, buf []byte) int32 {
	return httpResponseMeta(h, ptr(buf), uint32(len(buf)))
}
func (wasmHost) BlobPutFrom(key string, h int32) int32 { return blobPutFrom(key, h) }
func (wasmHost) BlobStat(key string, buf []byte) int32 {
	return blobStat(key, ptr(buf), uint32(len(buf)))
}
func (wasmHost) BlobList(prefix string, buf []byte) int32 {
	return blobList(prefix, ptr(buf), uint32(len(buf)))
}

func init() { current = wasmHost{} }

// step is reused by every call of the entry point.
var step Step

// blockhostRunV1 is the ABI v1 entry point. It reads nothing eagerly: the
// handler pulls what it needs.
//
//go:wasmexport blockhost_run_v1
func blockhostRunV1() int32 { return run(registered, &step) }
