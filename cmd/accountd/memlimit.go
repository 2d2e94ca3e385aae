package main

import (
	"os"
	"runtime"
	"runtime/debug"

	"github.com/accountd/accountd/server"
)

// setMemoryLimit gives the Go runtime a soft memory limit sized for the
// Argon2 gate: every hash in flight holds its memory cost, and without a
// limit the garbage of finished hashes lets the heap grow to twice that
// before a collection. GOMEMLIMIT in the environment takes precedence.
func setMemoryLimit(a *server.Argon2Params) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	p := server.DefaultArgon2
	if a != nil && a.MemoryKiB > 0 {
		p = *a
	}
	const margin = 64 << 20
	debug.SetMemoryLimit(int64(runtime.NumCPU())*int64(p.MemoryKiB)*1024 + margin)
}
