//go:build !linux

package main

// disableCoreDumps is done on Linux only; elsewhere core files are the
// system's setting.
func disableCoreDumps() error { return nil }
