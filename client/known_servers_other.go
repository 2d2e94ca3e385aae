//go:build !unix

package client

import "os"

// checkPrivate accepts every file where Unix modes and owners do not
// apply; the folder's access control list protects it there.
func checkPrivate(string, os.FileInfo) error { return nil }

// lockFile orders nothing across processes where flock is missing; the
// process's own mutex still orders its changes.
func lockFile(string) (func(), error) { return func() {}, nil }
