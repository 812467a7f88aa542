package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beamline/blockhost/host"
)

// postStep runs one step. The body is a JSON StepRequest, or
// multipart/form-data where a part named "request" holds the JSON
// StepRequest and every other part is one input (part name = input key,
// part body = the raw value).
func (a *api) postStep(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, a.o.MaxBodyBytes)
	var (
		req host.StepRequest
		err error
	)
	if isMultipart(r.Header.Get("Content-Type")) {
		req, err = a.decodeMultipart(r)
	} else {
		req, err = decodeJSON(r.Body, a.o.MaxBodyBytes)
	}
	if err == nil && req.Type == "" {
		err = &requestError{status: http.StatusBadRequest, body: ErrorBody{
			Code: CodeInvalidInput, Field: "type",
			Error: "field type: required (the step type, e.g. text.uppercase)",
		}}
	}
	if err != nil {
		var re *requestError
		if !errors.As(err, &re) {
			re = &requestError{status: http.StatusBadRequest, body: ErrorBody{Code: CodeInvalidInput, Error: err.Error()}}
		}
		a.writeError(w, r, re.status, re.body)
		return
	}

	res, err := a.h.Execute(r.Context(), req)
	if err != nil {
		a.writeExecuteError(w, r, req, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// writeExecuteError answers a step Execute did not admit.
func (a *api) writeExecuteError(w http.ResponseWriter, r *http.Request, req host.StepRequest, err error) {
	body := ErrorBody{Error: err.Error(), StepID: req.Context.StepID}
	var rej *host.RejectedError
	switch {
	case errors.As(err, &rej):
		secs := int64((rej.RetryAfter + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		a.log.LogAttrs(r.Context(), slog.LevelWarn, "step rejected",
			slog.String("type", req.Type), slog.String("pool", rej.Pool),
			slog.String("reason", rej.Ack.Reason), slog.String("step_id", req.Context.StepID),
			slog.String("tenant_id", req.Context.TenantID), slog.String("run_id", req.Context.RunID),
			slog.String("flow_id", req.Context.FlowID), slog.String("trace_id", req.Context.TraceID))
		writeJSON(w, http.StatusTooManyRequests, rej.Ack)
		return
	case errors.Is(err, host.ErrInvalidRequest):
		body.Code = CodeInvalidInput
		a.writeError(w, r, http.StatusBadRequest, body)
	case errors.Is(err, host.ErrUnknownType):
		body.Code = CodeUnknownType
		body.Error = fmt.Sprintf("no block serves step type %q", req.Type)
		a.writeError(w, r, http.StatusNotFound, body)
	case errors.Is(err, host.ErrDuplicateStep):
		body.Code = CodeDuplicateStep
		a.writeError(w, r, http.StatusConflict, body)
	case errors.Is(err, host.ErrTooLarge):
		body.Code = CodeQuotaExceeded
		a.writeError(w, r, http.StatusRequestEntityTooLarge, body)
	case errors.Is(err, host.ErrDraining), errors.Is(err, host.ErrClosed):
		body.Code = CodeDraining
		a.writeError(w, r, http.StatusServiceUnavailable, body)
	default:
		body.Code = CodeInternal
		a.writeError(w, r, http.StatusInternalServerError, body)
	}
}

// deleteStep asks the host to cancel a step in flight.
func (a *api) deleteStep(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("step_id")
	err := a.h.Cancel(id)
	body := ErrorBody{StepID: id}
	switch {
	case err == nil:
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "cancel_requested", "step_id": id})
		return
	case errors.Is(err, host.ErrUnknownStep):
		body.Code, body.Error = CodeUnknownStep, "no step "+strconv.Quote(id)+" in flight"
		a.writeError(w, r, http.StatusNotFound, body)
	case errors.Is(err, host.ErrCancellationDisabled):
		body.Code, body.Error = CodeCancellationDisabled, err.Error()
		a.writeError(w, r, http.StatusConflict, body)
	case errors.Is(err, host.ErrDraining), errors.Is(err, host.ErrClosed):
		body.Code, body.Error = CodeDraining, err.Error()
		a.writeError(w, r, http.StatusServiceUnavailable, body)
	default:
		body.Code, body.Error = CodeInternal, err.Error()
		a.writeError(w, r, http.StatusInternalServerError, body)
	}
}

// requestError is a request the handler refuses before calling the host.
type requestError struct {
	status int
	body   ErrorBody
}

func (e *requestError) Error() string { return e.body.Error }

func badRequest(field, format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, body: ErrorBody{
		Code: CodeInvalidInput, Field: field, Error: fmt.Sprintf(format, args...),
	}}
}

func tooLarge(limit int64) *requestError {
	return &requestError{status: http.StatusRequestEntityTooLarge, body: ErrorBody{
		Code:  CodeQuotaExceeded,
		Error: fmt.Sprintf("request body larger than %d bytes", limit),
	}}
}

func isMultipart(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "multipart/form-data"
}

// wireRequest decodes a StepRequest so that a wrong value in one of its
// maps is reported with its key (inputs.text); the outer fields shadow the
// embedded ones of the same JSON name.
type wireRequest struct {
	host.StepRequest
	Inputs     stringMap `json:"inputs"`
	Resources  stringMap `json:"resources"`
	Guardrails stringMap `json:"guardrails"`
}

// stringMap is a map[string]string whose type errors name the key.
type stringMap map[string]string

func (m *stringMap) UnmarshalJSON(data []byte) error {
	err := json.Unmarshal(data, (*map[string]string)(m))
	var te *json.UnmarshalTypeError
	if err == nil || !errors.As(err, &te) {
		return err
	}
	// Only on error: find the key whose value is not a string.
	var raw map[string]json.RawMessage
	if json.Unmarshal(data, &raw) == nil {
		keys := slices.Sorted(maps.Keys(raw))
		for _, k := range keys {
			if v := raw[k]; len(v) > 0 && v[0] != '"' {
				return &json.UnmarshalTypeError{Value: jsonKind(v[0]), Type: reflect.TypeFor[string](), Field: k}
			}
		}
	}
	return &json.UnmarshalTypeError{Value: te.Value, Type: reflect.TypeFor[map[string]string](), Offset: te.Offset}
}

func jsonKind(first byte) string {
	switch first {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// decodeJSON decodes one JSON StepRequest from body and refuses anything
// after it. Unknown fields are ignored, so clients may send newer fields.
func decodeJSON(body io.Reader, limit int64) (host.StepRequest, error) {
	var w wireRequest
	dec := json.NewDecoder(body)
	err := dec.Decode(&w)
	req := w.StepRequest
	req.Inputs, req.Resources, req.Guardrails = w.Inputs, w.Resources, w.Guardrails
	if err != nil {
		return req, jsonError(err, limit)
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, tooLarge(limit)
		}
		return req, badRequest("", "malformed JSON: unexpected data after the StepRequest object")
	}
	return req, nil
}

// jsonError turns a decoding error into an answer that names the field.
func jsonError(err error, limit int64) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(limit)
	case errors.Is(err, io.EOF):
		return badRequest("", "empty request body: want a JSON StepRequest such as {\"type\":\"text.uppercase\",\"inputs\":{\"text\":\"hello\"}}")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "malformed JSON: unexpected end of the request body")
	case errors.As(err, &se):
		return badRequest("", "malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	case errors.As(err, &te):
		te.Field = strings.TrimPrefix(te.Field, "StepRequest.") // the embedded struct of wireRequest
		if te.Field == "" {
			return badRequest("", "request body: want a JSON object (StepRequest), got %s", te.Value)
		}
		return badRequest(te.Field, "field %s: want %s, got %s", te.Field, describe(te.Type), te.Value)
	}
	return badRequest("", "malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// describe names a Go type the way a JSON client thinks of it.
func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Map:
		return "an object of " + strings.TrimPrefix(describe(t.Elem()), "a ") + " values"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return describe(t.Elem())
	}
	return t.String()
}

// decodeMultipart reads a multipart/form-data step: an optional part named
// "request" with the JSON StepRequest, and one part per input. Parts are
// read as they arrive, under the body cap; nothing is spooled to disk.
func (a *api) decodeMultipart(r *http.Request) (host.StepRequest, error) {
	var req host.StepRequest
	mr, err := r.MultipartReader()
	if err != nil {
		return req, badRequest("", "malformed multipart body: %v", err)
	}
	var (
		haveRequest bool
		parts       = map[string]string{}
	)
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			if !haveRequest && len(parts) == 0 {
				return req, badRequest("", "malformed multipart body: no parts (want a part named request with the JSON StepRequest, and one part per input)")
			}
			break
		}
		if err != nil {
			return req, multipartError(err, a.o.MaxBodyBytes)
		}
		name := p.FormName()
		switch {
		case name == "":
			p.Close()
			return req, badRequest("", "multipart part without a name: want Content-Disposition: form-data; name=\"INPUT_KEY\"")
		case name == "request":
			if haveRequest {
				p.Close()
				return req, badRequest("request", "multipart part \"request\" sent twice")
			}
			haveRequest = true
			req, err = decodeJSON(p, a.o.MaxBodyBytes)
			p.Close()
			if err != nil {
				return req, err
			}
		default:
			if _, dup := parts[name]; dup {
				p.Close()
				return req, badRequest("inputs."+name, "input %q sent in two parts", name)
			}
			var b strings.Builder
			_, err := io.Copy(&b, p)
			p.Close()
			if err != nil {
				return req, multipartError(err, a.o.MaxBodyBytes)
			}
			parts[name] = b.String()
		}
	}
	if len(parts) > 0 && req.Inputs == nil {
		req.Inputs = make(map[string]string, len(parts))
	}
	for k, v := range parts {
		if _, dup := req.Inputs[k]; dup {
			return req, badRequest("inputs."+k, "input %q is both in the request part and in a part of its own", k)
		}
		req.Inputs[k] = v
	}
	return req, nil
}

func multipartError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(limit)
	}
	return badRequest("", "malformed multipart body: %v", err)
}

// writeError answers an error and logs it at warn.
func (a *api) writeError(w http.ResponseWriter, r *http.Request, status int, body ErrorBody) {
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.String("code", body.Code),
		slog.String("error", body.Error),
	}
	if body.StepID != "" {
		attrs = append(attrs, slog.String("step_id", body.StepID))
	}
	a.log.LogAttrs(r.Context(), slog.LevelWarn, "http request failed", attrs...)
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorBody{Code: CodeInternal, Error: "encoding the answer: " + err.Error()})
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeText(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, s)
}
