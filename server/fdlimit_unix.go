//go:build unix

package server

import "syscall"

// fdLimit returns the process's soft limit on open files.
func fdLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	return l.Cur, nil
}
