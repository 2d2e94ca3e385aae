//go:build unix

package client

import (
	"fmt"
	"os"
	"syscall"
)

// lockFile holds an exclusive lock on path (created 0600 when missing)
// until the returned function is called.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// currentUID is the user the known-servers file must belong to; tests
// replace it to stand for another user.
var currentUID = os.Getuid

// checkPrivate refuses a known-servers file that someone else could have
// written: whoever can write it decides which servers this client trusts.
func checkPrivate(path string, fi os.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &InsecureFileError{Path: path, Problem: fmt.Sprintf("is writable by group or others (mode %04o)", perm), Fix: "chmod 600 " + path}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != currentUID() {
		return &InsecureFileError{Path: path, Problem: fmt.Sprintf("is owned by uid %d, not by you (uid %d)", st.Uid, currentUID()), Fix: "check its pins, then take it over: cp " + path + " " + path + ".mine && mv " + path + ".mine " + path}
	}
	return nil
}
