package host

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/beamline/blockhost/abi"
	fscap "github.com/beamline/blockhost/plugins/fs"
	httpcap "github.com/beamline/blockhost/plugins/http"
	"github.com/beamline/blockhost/sandbox"
)

// httpRequestMeta is the JSON metadata of http_request (ABI.md).
type httpRequestMeta struct {
	Method           string              `json:"method"`
	URL              string              `json:"url"`
	Headers          map[string][]string `json:"headers"`
	TimeoutMS        int64               `json:"timeout_ms"`
	ConnectTimeoutMS int64               `json:"connect_timeout_ms"`
}

// httpResponseMeta is what http_response_meta copies out.
type httpResponseMeta struct {
	Status  int                 `json:"status"`
	Headers map[string][]string `json:"headers"`
}

// capFail maps a capability error onto a status.
func (c *call) capFail(err error) int32 {
	var ce codedError
	if errorsAs(err, &ce) {
		return c.fail(ce.Code(), err.Error())
	}
	return c.ioFail(err)
}

func (h *Host) fnHTTPRequest(c *call, mod api.Module, stack []uint64) {
	bodyID := int32(u32(stack[2]))
	var body *handle
	if bodyID != 0 {
		bh, ok := c.consume(bodyID)
		if !ok {
			ret32(stack, c.fail(abi.BadHandle, "body handle "+strconv.Itoa(int(bodyID))+" is not an open readable handle"))
			return
		}
		body = bh
		// Closed when the call returns, or as soon as the request is done
		// (its number may then go to the response).
		defer func() {
			if body != nil {
				c.closeHandle(bodyID, false)
			}
		}()
	}
	ptr, n := u32(stack[0]), u32(stack[1])
	raw, ok := view(mod, ptr, n)
	if !ok {
		ret32(stack, c.badPointer(ptr, n))
		return
	}
	grant := c.st.blk.httpGrant
	if !grant.Enabled() {
		ret32(stack, c.fail(abi.Denied, "the HTTP capability is not granted to block "+strconv.Quote(c.st.blk.name)))
		return
	}
	if n > abi.MaxMetaLen {
		ret32(stack, c.fail(abi.LimitExceeded, "request metadata longer than "+strconv.Itoa(abi.MaxMetaLen)+" bytes"))
		return
	}
	var meta httpRequestMeta
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&meta); err != nil {
		ret32(stack, c.fail(abi.InvalidArgument, "request metadata: "+err.Error()))
		return
	}
	if meta.TimeoutMS < 0 || meta.ConnectTimeoutMS < 0 {
		ret32(stack, c.fail(abi.InvalidArgument, "request metadata: negative timeout"))
		return
	}
	req := httpcap.Request{
		Method: meta.Method, URL: meta.URL, Header: http.Header(meta.Headers),
		Timeout:        time.Duration(meta.TimeoutMS) * time.Millisecond,
		ConnectTimeout: time.Duration(meta.ConnectTimeoutMS) * time.Millisecond,
		BodySize:       -1,
	}
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	if body != nil {
		req.Body, req.BodySize = body.r, body.size
	}
	// The response needs a handle: refuse before sending, not after. The
	// body handle, consumed, frees its own.
	open := c.open
	if body != nil {
		open--
	}
	if open >= c.st.limits.MaxHandles {
		ret32(stack, c.handleLimit())
		return
	}
	resp, err := h.httpc.Do(c.ctx, grant, req)
	if body != nil {
		c.closeHandle(bodyID, false)
		body = nil
	}
	if err != nil {
		ret32(stack, c.capFail(err))
		return
	}
	ret32(stack, c.addHandle(&handle{r: resp.Body, closer: resp.Body, size: resp.Size,
		meta: httpResponseMeta{Status: resp.Status, Headers: resp.Header}}))
}

func fnHTTPResponseMeta(c *call, mod api.Module, stack []uint64) {
	id := int32(u32(stack[0]))
	hd, ok := c.handle(id)
	meta, isResp := hd.metaOf()
	if !ok || !isResp {
		if _, ok := view(mod, u32(stack[1]), u32(stack[2])); !ok {
			ret32(stack, c.badPointer(u32(stack[1]), u32(stack[2])))
			return
		}
		ret32(stack, c.fail(abi.BadHandle, "handle "+strconv.Itoa(int(id))+" is not an HTTP response"))
		return
	}
	ret32(stack, c.copyOutJSON(mod, u32(stack[1]), u32(stack[2]), meta))
}

func (hd *handle) metaOf() (httpResponseMeta, bool) {
	if hd == nil {
		return httpResponseMeta{}, false
	}
	m, ok := hd.meta.(httpResponseMeta)
	return m, ok
}

// blobArgs reads a blob function's key (its first two arguments) and the
// block's FS grant; false means the status is set already.
func (c *call) blobArgs(mod api.Module, stack []uint64) ([]byte, sandbox.FSGrant, bool) {
	k, s := c.key(mod, u32(stack[0]), u32(stack[1]))
	if s == 0 {
		var g sandbox.FSGrant
		if g, s = c.fsGrant(); s == 0 {
			return k, g, true
		}
	}
	ret32(stack, s)
	return nil, sandbox.FSGrant{}, false
}

// fsGrant returns the block's FS grant or reports the denial.
func (c *call) fsGrant() (sandbox.FSGrant, int32) {
	g := c.st.blk.fsGrant
	if !g.Enabled() {
		return g, c.fail(abi.Denied, "the FS capability is not granted to block "+strconv.Quote(c.st.blk.name))
	}
	return g, 0
}

func (h *Host) fnBlobOpenRead(c *call, mod api.Module, stack []uint64) {
	k, g, ok := c.blobArgs(mod, stack)
	if !ok {
		return
	}
	r, size, err := h.fs.Open(c.ctx, g, c.st.req.Context.TenantID, string(k))
	if err != nil {
		ret32(stack, c.capFail(err))
		return
	}
	ret32(stack, c.addHandle(&handle{r: r, closer: r, size: size}))
}

// blobWriter is a blob_open_write handle: closing it commits the blob; a
// handle dropped without commit aborts it.
type blobWriter struct {
	c         *call
	w         fscap.Writer
	committed bool
}

func (b *blobWriter) Write(p []byte) (int, error) { return b.w.Write(p) }

func (b *blobWriter) commit() error {
	b.committed = true
	if err := b.w.Commit(b.c.ctx); err != nil {
		b.w.Abort()
		return err
	}
	return nil
}

func (b *blobWriter) Close() error {
	if !b.committed {
		b.w.Abort()
	}
	return nil
}

func (h *Host) fnBlobOpenWrite(c *call, mod api.Module, stack []uint64) {
	k, g, ok := c.blobArgs(mod, stack)
	if !ok {
		return
	}
	w, err := h.fs.Create(c.ctx, g, c.st.req.Context.TenantID, string(k))
	if err != nil {
		ret32(stack, c.capFail(err))
		return
	}
	bw := &blobWriter{c: c, w: w}
	ret32(stack, c.addHandle(&handle{w: bw, size: -1, commit: bw.commit, closer: bw}))
}

func (h *Host) fnBlobPutFrom(c *call, mod api.Module, stack []uint64) {
	id := int32(u32(stack[2]))
	src, ok := c.consume(id)
	if !ok {
		ret32(stack, c.fail(abi.BadHandle, "handle "+strconv.Itoa(int(id))+" is not an open readable handle"))
		return
	}
	defer c.closeHandle(id, false)
	k, g, ok := c.blobArgs(mod, stack)
	if !ok {
		return
	}
	_, err := h.fs.Put(c.ctx, g, c.st.req.Context.TenantID, string(k), src.r)
	if err != nil {
		ret32(stack, c.capFail(err))
		return
	}
	ret32(stack, 0)
}

func (h *Host) fnBlobDelete(c *call, mod api.Module, stack []uint64) {
	k, g, ok := c.blobArgs(mod, stack)
	if !ok {
		return
	}
	if err := h.fs.Delete(c.ctx, g, c.st.req.Context.TenantID, string(k)); err != nil {
		ret32(stack, c.capFail(err))
		return
	}
	ret32(stack, 0)
}

func (h *Host) fnBlobStat(c *call, mod api.Module, stack []uint64) {
	if _, ok := view(mod, u32(stack[2]), u32(stack[3])); !ok {
		ret32(stack, c.badPointer(u32(stack[2]), u32(stack[3])))
		return
	}
	k, g, ok := c.blobArgs(mod, stack)
	if !ok {
		return
	}
	info, err := h.fs.Stat(c.ctx, g, c.st.req.Context.TenantID, string(k))
	if err != nil {
		ret32(stack, c.capFail(err))
		return
	}
	ret32(stack, c.copyOutJSON(mod, u32(stack[2]), u32(stack[3]), info))
}

func (h *Host) fnBlobList(c *call, mod api.Module, stack []uint64) {
	if _, ok := view(mod, u32(stack[2]), u32(stack[3])); !ok {
		ret32(stack, c.badPointer(u32(stack[2]), u32(stack[3])))
		return
	}
	k, g, ok := c.blobArgs(mod, stack)
	if !ok {
		return
	}
	list, err := h.fs.List(c.ctx, g, c.st.req.Context.TenantID, string(k))
	if err != nil {
		ret32(stack, c.capFail(err))
		return
	}
	if list == nil {
		list = []fscap.BlobInfo{}
	}
	ret32(stack, c.copyOutJSON(mod, u32(stack[2]), u32(stack[3]), list))
}
