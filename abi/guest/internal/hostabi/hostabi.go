// Package hostabi is the seam between the Go guest SDK and its host: the
// functions of module "blockhost" as a Go interface. Inside a block the
// implementation is the wasm imports (abi/guest, wasip1 only); in native
// tests it is the in-memory fake of abi/guest/guesttest.
//
// Every method mirrors one ABI v1 function of the same name (see
// abi/ABI.md): keys and messages are passed as strings, buffers as byte
// slices (a pointer and a length on the wire), and the result is the raw
// status — a count, a length, a handle, or a negated abi.Code.
package hostabi

// Host is the "blockhost" import module. Implementations are used by one
// step at a time and need not be safe for concurrent use.
type Host interface {
	InputLen(key string) int64
	InputRead(key string, offset int64, buf []byte) int32
	InputOpen(key string) int32
	InputKeys(buf []byte) int32
	InputsJSON(buf []byte) int32

	OutputSet(key string, val []byte) int32
	OutputOpen(key string) int32
	OutputFromHandle(key string, h int32) int32

	ContextGet(key string, buf []byte) int32
	ConfigGet(key string, buf []byte) int32
	Log(level int32, msg string) int32
	ErrorSet(code int32, msg string, httpStatus, retryAfterMS, retryable int32) int32
	LastError(buf []byte) int32

	HandleRead(h int32, buf []byte) int32
	HandleWrite(h int32, buf []byte) int32
	HandleSize(h int32) int64
	HandleClose(h int32) int32
	BufferNew() int32

	HTTPRequest(req []byte, body int32) int32
	HTTPResponseMeta(h int32, buf []byte) int32

	BlobOpenRead(key string) int32
	BlobOpenWrite(key string) int32
	BlobPutFrom(key string, h int32) int32
	BlobDelete(key string) int32
	BlobStat(key string, buf []byte) int32
	BlobList(prefix string, buf []byte) int32
}

// Run is installed by package guest when it initialises. It runs one step
// against host with handler — a guest.Handler, or nil for the handler the
// block registered — exactly as the blockhost_run_v1 export does, and
// returns the entry point's result. Calls must not overlap: the SDK keeps
// the current host in a package variable, as a wasm instance runs one call
// at a time.
var Run func(host Host, handler any) int32
