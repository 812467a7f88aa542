package guest

import (
	"encoding/json"
	"time"

	"github.com/beamline/blockhost/abi"
)

// BlobInfo describes a blob (blob_stat, blob_list).
type BlobInfo struct {
	Key      string
	Size     int64
	Modified time.Time
}

type blobInfoJSON struct {
	Key            string `json:"key"`
	Size           int64  `json:"size"`
	ModifiedUnixMS int64  `json:"modified_unix_ms"`
}

func (j blobInfoJSON) info() BlobInfo {
	return BlobInfo{Key: j.Key, Size: j.Size, Modified: time.UnixMilli(j.ModifiedUnixMS)}
}

// BlobOpenRead opens blob key for reading through the host's filesystem
// capability. Errors: ErrNotFound, ErrDenied (capability not granted or
// the key escapes the jail), ErrCircuitOpen, ErrIO, ErrTimeout.
func BlobOpenRead(key string) (Handle, error) {
	h := current.BlobOpenRead(key)
	if h < 0 {
		return 0, hostErr(abi.FnBlobOpenRead, int64(h))
	}
	return Handle(h), nil
}

// BlobOpenWrite opens blob key for writing. Closing the handle commits the
// blob atomically and durably (readers see the old blob or the new one,
// never a mix) and reports a commit failure; a handle the step leaves open
// is committed by the host at the end of the step.
func BlobOpenWrite(key string) (Handle, error) {
	h := current.BlobOpenWrite(key)
	if h < 0 {
		return 0, hostErr(abi.FnBlobOpenWrite, int64(h))
	}
	return Handle(h), nil
}

// BlobPutFrom writes blob key from the readable handle h on the host side
// (e.g. from Step.InputHandle) and closes h.
func BlobPutFrom(key string, h Handle) error {
	if st := current.BlobPutFrom(key, int32(h)); st < 0 {
		return hostErr(abi.FnBlobPutFrom, int64(st))
	}
	return nil
}

// BlobDelete deletes blob key; ErrNotFound if there is none.
func BlobDelete(key string) error {
	if st := current.BlobDelete(key); st < 0 {
		return hostErr(abi.FnBlobDelete, int64(st))
	}
	return nil
}

// BlobStat describes blob key.
func BlobStat(key string) (BlobInfo, error) {
	b, err := copyOut(abi.FnBlobStat, func(buf []byte) int32 { return current.BlobStat(key, buf) })
	if err != nil {
		return BlobInfo{}, err
	}
	var j blobInfoJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return BlobInfo{}, &HostError{Code: abi.InvalidArgument, Op: abi.FnBlobStat, Detail: "malformed blob metadata: " + err.Error()}
	}
	return j.info(), nil
}

// BlobList describes the blobs whose keys start with prefix, sorted by key.
func BlobList(prefix string) ([]BlobInfo, error) {
	b, err := copyOut(abi.FnBlobList, func(buf []byte) int32 { return current.BlobList(prefix, buf) })
	if err != nil {
		return nil, err
	}
	var js []blobInfoJSON
	if err := json.Unmarshal(b, &js); err != nil {
		return nil, &HostError{Code: abi.InvalidArgument, Op: abi.FnBlobList, Detail: "malformed blob list: " + err.Error()}
	}
	infos := make([]BlobInfo, len(js))
	for i, j := range js {
		infos[i] = j.info()
	}
	return infos, nil
}
