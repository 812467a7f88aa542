//go:build linux

package httpcap

import (
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// blackhole returns a loopback address whose TCP connects hang: a socket
// listening with backlog 0 whose accept queue has been filled with
// connections nobody accepts. Linux then drops further SYNs (a full accept
// queue drops them even with SYN cookies, unless tcp_abort_on_overflow is
// set), so the client retransmits until its own timeout — a connect timeout
// on loopback, with no external address. The helper verifies the
// technique and skips the test when the kernel does not behave so.
func blackhole(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
	var fillers []net.Conn
	t.Cleanup(func() {
		for _, c := range fillers {
			c.Close()
		}
		syscall.Close(fd)
	})
	for range 64 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			// The queue is full: connects now hang. Check once more.
			start := time.Now()
			if c, err := net.DialTimeout("tcp", addr, 150*time.Millisecond); err == nil {
				c.Close()
				t.Skip("blackhole: connect succeeded after the accept queue filled")
			}
			if time.Since(start) < 100*time.Millisecond {
				t.Skipf("blackhole: connect failed fast (%v), not a hang", err)
			}
			return addr
		}
		fillers = append(fillers, c)
	}
	t.Skip("blackhole: accept queue never filled")
	return ""
}
