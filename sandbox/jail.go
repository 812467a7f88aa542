package sandbox

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/beamline/blockhost/abi"
)

// The FS jail.
//
// A block's blobs live under FSGrant.Root (Root/<tenant_id>/ when
// FSGrant.PerTenant), and every file operation goes through an *os.Root
// opened on that directory (OpenJail), so the kernel refuses any path that
// resolves outside it: ".." components, absolute symbolic links, and
// relative symbolic links that climb out. Keys are checked before they get
// that far (CheckBlobKey); IsEscape recognises the refusals os.Root itself
// makes.

// Limits and names of the blob key space.
const (
	// MaxBlobKeyLen is the longest blob key, in bytes (1024). The ABI lets
	// keys of any kind be up to abi.MaxKeyLen; blob keys are stricter.
	MaxBlobKeyLen = 1024
	// MaxBlobSegmentLen is the longest segment of a blob key, in bytes
	// (255, the usual file-name limit).
	MaxBlobSegmentLen = 255
	// TempPrefix starts the name of the temporary file of a blob being
	// written: ".blockhost-tmp-" followed by 16 hex digits, in the
	// directory of the blob's key. No key segment may start with it, so a
	// block can neither read nor overwrite a write in progress, and a sweep
	// at start-up removes every such file a crash left behind.
	TempPrefix = ".blockhost-tmp-"
)

// KeyError reports a blob key, list prefix or tenant id the jail refuses.
type KeyError struct {
	// Kind is "key", "prefix" or "tenant id".
	Kind string
	// Key is the refused value.
	Key string
	// Reason says what is wrong with it, e.g. `has a ".." segment`.
	Reason string
	// Escape is set when the value tries to leave the root (an absolute
	// path, a ".." segment or a backslash): the jail denies it rather than
	// calling it malformed.
	Escape bool
}

// Error returns `blob key "a/../b": has a ".." segment`; the key is cut to
// 128 bytes.
func (e *KeyError) Error() string {
	k := e.Key
	if len(k) > 128 {
		k = k[:128] + "..."
	}
	return "blob " + e.Kind + " " + strconv.Quote(k) + ": " + e.Reason
}

// Code returns abi.Denied for an escape attempt and abi.InvalidArgument for
// any other malformed value.
func (e *KeyError) Code() abi.Code {
	if e.Escape {
		return abi.Denied
	}
	return abi.InvalidArgument
}

// CheckBlobKey checks a blob key: a relative, slash-separated path of
// segments made of A-Z, a-z, 0-9, '.', '_' and '-'; no empty segment (so
// no leading, trailing or doubled slash), no "." or ".." segment, no
// segment longer than MaxBlobSegmentLen or starting with TempPrefix; at most
// MaxBlobKeyLen bytes. A NUL byte or a bad character is malformed
// (InvalidArgument); a leading "/", a ".." segment or a backslash is an
// escape attempt (Denied). The error is a *KeyError.
func CheckBlobKey(key string) error { return checkPath("key", key, false) }

// CheckBlobPrefix checks a blob list prefix: "" (everything), or a key
// whose last segment may be empty (a trailing slash) or partial — "a/b"
// matches "a/b", "a/bc" and "a/b/c". The error is a *KeyError.
func CheckBlobPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return checkPath("prefix", prefix, true)
}

// CheckTenantID checks a tenant id used as a directory: one key segment.
// The error is a *KeyError.
func CheckTenantID(id string) error {
	if id == "" {
		return &KeyError{Kind: "tenant id", Key: id, Reason: "is empty (a per-tenant FS root needs the step's tenant_id)", Escape: true}
	}
	if strings.Contains(id, "/") {
		return &KeyError{Kind: "tenant id", Key: id, Reason: "contains a slash", Escape: true}
	}
	return checkPath("tenant id", id, false)
}

func checkPath(kind, p string, prefix bool) error {
	bad := func(reason string, escape bool) error {
		return &KeyError{Kind: kind, Key: p, Reason: reason, Escape: escape}
	}
	// Escape attempts first, so "/../x" is denied rather than malformed.
	switch {
	case p == "":
		return bad("is empty", false)
	case p[0] == '/':
		return bad("is absolute", true)
	case strings.Contains(p, `\`):
		return bad("contains a backslash", true)
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		if s == ".." {
			return bad(`has a ".." segment`, true)
		}
	}
	switch {
	case len(p) > MaxBlobKeyLen:
		return bad("is longer than "+strconv.Itoa(MaxBlobKeyLen)+" bytes", false)
	case strings.IndexByte(p, 0) >= 0:
		return bad("contains a NUL byte", false)
	}
	for i, s := range segs {
		last := i == len(segs)-1
		switch {
		case s == "" && prefix && last:
			// "a/" lists everything under a/.
		case s == "":
			return bad("has an empty segment", false)
		case s == "." && !(prefix && last):
			return bad(`has a "." segment`, false)
		case len(s) > MaxBlobSegmentLen:
			return bad("has a segment longer than "+strconv.Itoa(MaxBlobSegmentLen)+" bytes", false)
		case strings.HasPrefix(s, TempPrefix):
			return bad("has a segment starting with the reserved prefix "+TempPrefix, false)
		}
		for j := 0; j < len(s); j++ {
			if !safeByte(s[j]) {
				return bad("has the character "+strconv.QuoteRune(rune(s[j]))+" (allowed: A-Z a-z 0-9 . _ -)", false)
			}
		}
	}
	return nil
}

func safeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// BlobPath checks tenant (when g.PerTenant) and key and returns the path of
// the blob relative to g.Root (or g.Fallback, which mirrors it):
// "<tenant>/<key>" or "<key>". The error is a *KeyError.
func (g FSGrant) BlobPath(tenant, key string) (string, error) {
	if err := CheckBlobKey(key); err != nil {
		return "", err
	}
	dir, err := g.TenantDir(tenant)
	if err != nil {
		return "", err
	}
	if dir == "" {
		return key, nil
	}
	return dir + "/" + key, nil
}

// TenantDir checks tenant when g.PerTenant and returns the directory of
// its blobs relative to g.Root: tenant itself, or "" without PerTenant
// (tenant is then ignored). The error is a *KeyError.
func (g FSGrant) TenantDir(tenant string) (string, error) {
	if !g.PerTenant {
		return "", nil
	}
	if err := CheckTenantID(tenant); err != nil {
		return "", err
	}
	return tenant, nil
}

// OpenJail opens dir, which must exist and be a directory, as the root of a
// jail: every path given to the returned *os.Root's methods is resolved
// inside dir, and one that would leave it (through "..", an absolute path
// or a symbolic link) fails with an error IsEscape recognises. The caller
// closes it.
func OpenJail(dir string) (*os.Root, error) {
	return os.OpenRoot(dir)
}

// IsEscape reports whether err is an *os.Root's refusal of a path that
// resolves outside its directory. The standard library does not export
// that error, so it is recognised by its text ("path escapes from
// parent"); a test pins the behaviour on every Go upgrade.
func IsEscape(err error) bool {
	for err != nil {
		if err.Error() == errPathEscapesText {
			return true
		}
		var pe *os.PathError
		var le *os.LinkError
		switch {
		case errors.As(err, &pe) && pe.Err != err:
			err = pe.Err
		case errors.As(err, &le) && le.Err != err:
			err = le.Err
		default:
			return false
		}
	}
	return false
}

const errPathEscapesText = "path escapes from parent"
