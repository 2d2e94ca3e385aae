package server

import (
	"runtime"
	"testing"
)

// BenchmarkHashDefault is one hash at the production cost.
func BenchmarkHashDefault(b *testing.B) {
	for b.Loop() {
		HashPassword("correct horse battery staple", DefaultArgon2)
	}
}

// BenchmarkHashDefaultGC is the cost of a hash plus the collection the
// hash gate runs after it.
func BenchmarkHashDefaultGC(b *testing.B) {
	for b.Loop() {
		HashPassword("correct horse battery staple", DefaultArgon2)
		runtime.GC()
	}
}
