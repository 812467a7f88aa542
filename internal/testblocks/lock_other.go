//go:build !unix

package testblocks

import (
	"fmt"
	"os"
)

// lockFile does not lock where flock is unavailable: concurrent test
// packages may build twice.
func lockFile(string) (func(), error) { return func() {}, nil }

func checkPrivateDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}
