package main

import "golang.org/x/sys/unix"

// disableCoreDumps keeps the process's memory (the master key, the
// identity key, passwords being hashed) out of core files and away from
// ptrace by other processes of the same user: RLIMIT_CORE 0 and
// PR_SET_DUMPABLE 0.
func disableCoreDumps() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return err
	}
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
