package guest

import "github.com/beamline/blockhost/abi/guest/internal/hostabi"

// SetScratchSize makes copy-out calls start with an n-byte buffer, to
// exercise the retry path; the returned func restores the default.
func SetScratchSize(n int) (restore func()) {
	old := scratchSize
	scratchSize, scratch = n, make([]byte, n)
	return func() { scratchSize, scratch = old, make([]byte, old) }
}

// ScratchCap reports the capacity of the copy-out buffer.
func ScratchCap() int { return cap(scratch) }

// Unregister forgets the registered handler.
func Unregister() { registered = nil }

// RunWith runs h against host as the entry point does.
func RunWith(host hostabi.Host, h Handler) int32 { return hostabi.Run(host, h) }
