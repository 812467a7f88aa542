package fscap

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: every
// test that hangs the backend releases it, and every stuck goroutine must
// then finish.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
