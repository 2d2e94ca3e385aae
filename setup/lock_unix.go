//go:build unix

package setup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// LockFileName is the file in the data folder that commands changing the
// config hold a lock on.
const LockFileName = "accountd.conf.lock"

// lockWait bounds how long a change waits for another one to finish; a
// change takes one key derivation, well under a second.
const lockWait = 30 * time.Second

// lockConfig takes the data folder's config lock, waiting for a change in
// another process (or goroutine) to finish, so that two read-change-seal
// rounds never interleave and lose one of the changes.
func lockConfig(dataDir string) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dataDir, LockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("setup: lock config: %w", err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("setup: lock config: %w", err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("setup: another command has been changing the config in %s for over %v", dataDir, lockWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
