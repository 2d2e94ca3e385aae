//go:build unix

package client

import (
	"fmt"
	"os"
	"syscall"
)

// checkSecretFile refuses a device token file that someone else could
// read or could have written.
func checkSecretFile(path string, fi os.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return &InsecureFileError{Path: path, Problem: fmt.Sprintf("is open to group or others (mode %04o)", perm), Fix: "chmod 600 " + path, Kind: "device tokens"}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != currentUID() {
		return &InsecureFileError{Path: path, Problem: fmt.Sprintf("is owned by uid %d, not by you (uid %d)", st.Uid, currentUID()), Fix: "rm " + path, Kind: "device tokens"}
	}
	return nil
}
