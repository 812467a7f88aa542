// Command escape is a test block (type test.escape) that tries to reach
// what its grants do not cover and reports what the host answered. It
// succeeds with output results, a JSON array with one object per call:
// {"op": ..., "arg": ..., "status": N, "detail": ..., "http_status": S,
// "data": ...}. status is 0 for a call that succeeded or the negative
// status the host returned, with the host's detail (last_error). For a
// call that succeeded, data is what it got: the bytes read by
// blob_open_read or from an HTTP response body (at most 4 KiB), the size
// from blob_stat ("size=N"), the keys from blob_list (comma-separated);
// http_status is the response's status.
//
// Inputs:
//
//   - keys: a JSON array of blob keys. For each, the block calls
//     blob_open_read (reading the blob), blob_open_write
//     (writing "escape" and closing, which commits), blob_put_from (from a
//     buffer holding "escape"), blob_stat, blob_list (the key as prefix)
//     and blob_delete, in that order.
//   - urls: a JSON array of URLs, each requested with GET.
//
// A malformed input fails the step with INVALID_INPUT.
package main

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
)

func init() { guest.Register(escape) }

// result is one call and the host's answer.
type result struct {
	Op         string `json:"op"`
	Arg        string `json:"arg"`
	Status     int    `json:"status"`
	Detail     string `json:"detail,omitempty"`
	HTTPStatus int    `json:"http_status,omitempty"`
	Data       string `json:"data,omitempty"`
}

// maxData caps what a result keeps of the data a call got.
const maxData = 4 << 10

func escape(s *guest.Step) error {
	var keys, urls []string
	for name, dst := range map[string]*[]string{"keys": &keys, "urls": &urls} {
		if v, ok := s.Input(name); ok {
			if err := json.Unmarshal([]byte(v), dst); err != nil {
				return guest.Errorf(abi.InvalidInput, "%s: want a JSON array of strings: %v", name, err)
			}
		}
	}
	results := []result{}
	add := func(op, arg string, err error) *result {
		r := result{Op: op, Arg: arg}
		var he *guest.HostError
		switch {
		case err == nil:
		case errors.As(err, &he):
			r.Status, r.Detail = -int(he.Code), he.Detail
		default:
			r.Status, r.Detail = -int(abi.ExecutionFailed), err.Error()
		}
		results = append(results, r)
		return &results[len(results)-1]
	}
	for _, k := range keys {
		data, err := readBlob(k)
		add(abi.FnBlobOpenRead, k, err).Data = data
		add(abi.FnBlobOpenWrite, k, writeBlob(k))
		add(abi.FnBlobPutFrom, k, putBlob(k))
		info, err := guest.BlobStat(k)
		if r := add(abi.FnBlobStat, k, err); err == nil {
			r.Data = "size=" + strconv.FormatInt(info.Size, 10)
		}
		list, err := guest.BlobList(k)
		if r := add(abi.FnBlobList, k, err); err == nil {
			names := make([]string, len(list))
			for i, b := range list {
				names[i] = b.Key
			}
			r.Data = truncate(strings.Join(names, ","))
		}
		add(abi.FnBlobDelete, k, guest.BlobDelete(k))
	}
	for _, u := range urls {
		resp, err := guest.Do(guest.HTTPRequest{URL: u}, guest.NoBody)
		r := add(abi.FnHTTPRequest, u, err)
		if err == nil {
			r.HTTPStatus = resp.Status
			body, _ := io.ReadAll(io.LimitReader(resp.Body, maxData))
			r.Data = string(body)
			resp.Body.Close()
		}
	}
	out, err := json.Marshal(results)
	if err != nil {
		return err
	}
	return s.SetOutputBytes("results", out)
}

func readBlob(key string) (string, error) {
	h, err := guest.BlobOpenRead(key)
	if err != nil {
		return "", err
	}
	data, err := io.ReadAll(io.LimitReader(h, maxData))
	if cerr := h.Close(); err == nil {
		err = cerr
	}
	return string(data), err
}

func truncate(s string) string {
	if len(s) > maxData {
		return s[:maxData]
	}
	return s
}

func writeBlob(key string) error {
	h, err := guest.BlobOpenWrite(key)
	if err != nil {
		return err
	}
	_, err = h.Write([]byte("escape"))
	if cerr := h.Close(); err == nil {
		err = cerr
	}
	return err
}

func putBlob(key string) error {
	b, err := guest.NewBuffer()
	if err != nil {
		return err
	}
	if _, err := b.Write([]byte("escape")); err != nil {
		b.Close()
		return err
	}
	return guest.BlobPutFrom(key, b)
}

func main() {}
