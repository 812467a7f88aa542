package guest

import (
	"encoding/json"
	"time"

	"github.com/beamline/blockhost/abi"
)

// HTTPRequest is the metadata of an HTTP request made through the host.
type HTTPRequest struct {
	// Method defaults to GET.
	Method string
	// URL is absolute, http or https; the host's egress policy decides
	// whether it may be reached.
	URL string
	// Headers are sent as given.
	Headers map[string][]string
	// Timeout bounds the whole exchange, reading the response body
	// included, and ConnectTimeout the connection; 0 means the host's
	// defaults (30 s and 5 s). Both are rounded up to whole milliseconds.
	Timeout        time.Duration
	ConnectTimeout time.Duration
}

// HTTPResponse is a response received through the host. Body streams the
// response body; close it when done (the host closes it at the end of the
// step otherwise).
type HTTPResponse struct {
	Status  int
	Headers map[string][]string
	// HeadersJSON is Headers as a JSON object, {} when there are none.
	HeadersJSON []byte
	Body        Handle
}

type httpRequestJSON struct {
	Method           string              `json:"method"`
	URL              string              `json:"url"`
	Headers          map[string][]string `json:"headers,omitempty"`
	TimeoutMS        int32               `json:"timeout_ms,omitempty"`
	ConnectTimeoutMS int32               `json:"connect_timeout_ms,omitempty"`
}

type httpMetaJSON struct {
	Status  int                 `json:"status"`
	Headers map[string][]string `json:"headers"`
}

// Do performs req through the host's HTTP capability (http_request). body
// is NoBody or a readable handle (e.g. from NewBuffer or
// Step.InputHandle), which Do consumes. A response with any status is a
// success; errors are failures to get one: ErrDenied (capability not
// granted or egress refused), ErrCircuitOpen, ErrNetwork,
// ErrConnectionTimeout, ErrCancelled, ErrTimeout, ErrLimitExceeded.
func Do(req HTTPRequest, body Handle) (*HTTPResponse, error) {
	method := req.Method
	if method == "" {
		method = "GET"
	}
	meta, err := json.Marshal(httpRequestJSON{
		Method:           method,
		URL:              req.URL,
		Headers:          req.Headers,
		TimeoutMS:        durationMS(req.Timeout),
		ConnectTimeoutMS: durationMS(req.ConnectTimeout),
	})
	if err != nil {
		return nil, &HostError{Code: abi.InvalidArgument, Op: abi.FnHTTPRequest, Detail: err.Error()}
	}
	h := current.HTTPRequest(meta, int32(body))
	if h < 0 {
		return nil, hostErr(abi.FnHTTPRequest, int64(h))
	}
	b, err := copyOut(abi.FnHTTPResponseMeta, func(buf []byte) int32 { return current.HTTPResponseMeta(h, buf) })
	if err != nil {
		Handle(h).Close()
		return nil, err
	}
	m, headersJSON, err := decodeMeta(b)
	if err != nil {
		Handle(h).Close()
		return nil, &HostError{Code: abi.InvalidArgument, Op: abi.FnHTTPResponseMeta, Detail: "malformed response metadata: " + err.Error()}
	}
	return &HTTPResponse{Status: m.Status, Headers: m.Headers, HeadersJSON: headersJSON, Body: Handle(h)}, nil
}
