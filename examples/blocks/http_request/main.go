// Command http_request is the first-party block serving step type
// http.request: one HTTP request through the host's HTTP capability.
//
// Inputs:
//
//   - url (required): absolute http or https URL; the operator's grant for
//     this block decides what it may reach.
//   - method: GET when absent or empty; upper-cased.
//   - headers: a JSON object whose values are strings or arrays of
//     strings, e.g. {"Accept": "application/json", "X-Tag": ["a", "b"]}.
//   - body: sent as the request body, streamed from the input by handle
//     (never copied through the block's memory); absent means no body.
//   - timeout_ms, connect_timeout_ms: positive decimal overrides of the
//     host's total and connect timeouts, within the operator's maxima.
//
// Outputs, for a response with a status below 400:
//
//   - status: the decimal status code;
//   - headers: the response headers as a JSON object of arrays of strings;
//   - body: the response body, streamed by the host from the response into
//     the output (never held in the block's memory).
//
// Errors: a status of 400 or more fails the step with HTTP_ERROR, the
// status as http_status, the server's Retry-After (seconds or HTTP date) as
// the retry-after hint and the start of the body in the message, so the
// host's classification retries 5xx and 429 and not other 4xx. A failure to
// get a response is reported with the host's code (NETWORK_ERROR,
// CONNECTION_TIMEOUT, DENIED, CIRCUIT_OPEN, CANCELLED, LIMIT_EXCEEDED, ...),
// and malformed inputs with MISSING_REQUIRED_FIELD, INVALID_FORMAT or
// INVALID_INPUT.
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o http_request.wasm .
package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
)

func init() { guest.Register(run) }

// snippetLen is how much of an error response's body goes into the
// message.
const snippetLen = 256

func run(s *guest.Step) error {
	rawURL, ok := s.Input("url")
	if !ok || strings.TrimSpace(rawURL) == "" {
		return guest.Errorf(abi.MissingRequiredField, "input %q is required", "url")
	}
	req := guest.HTTPRequest{URL: strings.TrimSpace(rawURL), Method: "GET"}
	if m, ok := s.Input("method"); ok && strings.TrimSpace(m) != "" {
		req.Method = strings.ToUpper(strings.TrimSpace(m))
	}
	if raw, ok := s.Input("headers"); ok {
		h, err := parseHeaders(raw)
		if err != nil {
			return &guest.Error{Code: abi.InvalidFormat, Message: "input \"headers\": " + err.Error()}
		}
		req.Headers = h
	}
	var err error
	if req.Timeout, err = durationInput(s, "timeout_ms"); err != nil {
		return err
	}
	if req.ConnectTimeout, err = durationInput(s, "connect_timeout_ms"); err != nil {
		return err
	}
	body := guest.NoBody
	if h, err := s.InputHandle("body"); err == nil {
		body = h
	} else if !errors.Is(err, guest.ErrNotFound) {
		return err
	}

	resp, err := guest.Do(req, body)
	if err != nil {
		return hostError(err)
	}
	if resp.Status >= 400 {
		return statusError(req, resp, time.Now())
	}
	if err := s.SetOutput("status", strconv.Itoa(resp.Status)); err != nil {
		resp.Body.Close()
		return err
	}
	if err := s.SetOutputBytes("headers", resp.HeadersJSON); err != nil {
		resp.Body.Close()
		return err
	}
	return s.SetOutputFromHandle("body", resp.Body)
}

// statusError is the HTTP_ERROR of a response with status >= 400; it reads
// at most snippetLen bytes of the body and closes it.
func statusError(req guest.HTTPRequest, resp *guest.HTTPResponse, now time.Time) error {
	buf := make([]byte, snippetLen)
	n, _ := io.ReadFull(resp.Body, buf)
	resp.Body.Close()
	msg := "HTTP " + strconv.Itoa(resp.Status) + " from " + req.Method + " " + redact(req.URL)
	if snip := snippet(buf[:n]); snip != "" {
		msg += ": " + snip
	}
	return &guest.Error{
		Code:       abi.HTTPError,
		Message:    msg,
		HTTPStatus: resp.Status,
		RetryAfter: parseRetryAfter(header(resp.Headers, "Retry-After"), now),
	}
}

// hostError reports a failed host call with the host's code (NETWORK_ERROR,
// CONNECTION_TIMEOUT, DENIED, CIRCUIT_OPEN, ...) and its detail alone as
// the message.
func hostError(err error) error {
	var he *guest.HostError
	if errors.As(err, &he) && he.Detail != "" {
		return &guest.Error{Code: he.Code, Message: he.Detail}
	}
	return err
}

// parseHeaders decodes the headers input: a JSON object of strings or
// arrays of strings. An empty or blank input means no headers.
func parseHeaders(raw string) (map[string][]string, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, errors.New("want a JSON object of strings or arrays of strings: " + err.Error())
	}
	if m == nil {
		return nil, errors.New("want a JSON object, got null")
	}
	out := make(map[string][]string, len(m))
	for k, v := range m {
		if k == "" {
			return nil, errors.New("empty header name")
		}
		if string(v) == "null" {
			return nil, errors.New("header " + strconv.Quote(k) + ": want a string or an array of strings, got null")
		}
		var one string
		if err := json.Unmarshal(v, &one); err == nil {
			out[k] = append(out[k], one)
			continue
		}
		var many []string
		if err := json.Unmarshal(v, &many); err != nil || many == nil {
			return nil, errors.New("header " + strconv.Quote(k) + ": want a string or an array of strings")
		}
		out[k] = append(out[k], many...)
	}
	return out, nil
}

// durationInput reads an optional positive millisecond input.
func durationInput(s *guest.Step, key string) (time.Duration, error) {
	raw, ok := s.Input(key)
	if !ok || strings.TrimSpace(raw) == "" {
		return 0, nil
	}
	ms, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 32)
	if err != nil || ms <= 0 {
		return 0, &guest.Error{Code: abi.InvalidInput, Message: "input " + strconv.Quote(key) + ": want a positive number of milliseconds, got " + strconv.Quote(raw)}
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// httpDateLayouts are the HTTP-date forms of RFC 9110 §5.6.7: IMF-fixdate
// first, then the obsolete RFC 850 and asctime forms.
var httpDateLayouts = []string{
	"Mon, 02 Jan 2006 15:04:05 GMT",
	"Monday, 02-Jan-06 15:04:05 GMT",
	"Mon Jan _2 15:04:05 2006",
}

// parseRetryAfter returns the delay a Retry-After value asks for: a number
// of seconds, or an HTTP date relative to now. A date in the past, a
// negative or malformed value gives 0 (no hint).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 63); err == nil {
		const maxSecs = uint64(1<<63-1) / uint64(time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second
	}
	for _, layout := range httpDateLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			if d := t.Sub(now); d > 0 {
				return d
			}
			return 0
		}
	}
	return 0
}

// header returns the first value of name, matched case-insensitively.
func header(h map[string][]string, name string) string {
	if vs := h[name]; len(vs) > 0 {
		return vs[0]
	}
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// redact drops credentials, query and fragment from a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// snippet makes the start of a body printable on one line.
func snippet(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// main never runs: a block is a WASI reactor driven by the host.
func main() {}
