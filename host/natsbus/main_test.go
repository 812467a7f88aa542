package natsbus

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine outlives its tests: buses,
// hosts, clients and the in-process servers are all shut down at cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
