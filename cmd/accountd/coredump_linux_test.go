package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCoreDumpsOff runs disableCoreDumps in a process of its own (this
// test binary again, in TestCoreDumpsOffHelper) and checks that the
// process is not dumpable and may write no core file.
func TestCoreDumpsOff(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCoreDumpsOffHelper$")
	cmd.Env = append(os.Environ(), "ACCOUNTD_COREDUMP_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "dumpable=0 core=0/0") {
		t.Fatalf("after disableCoreDumps: %s", out)
	}
}

// TestCoreDumpsOffHelper is TestCoreDumpsOff's other process; without
// ACCOUNTD_COREDUMP_HELPER it returns at once.
func TestCoreDumpsOffHelper(t *testing.T) {
	if os.Getenv("ACCOUNTD_COREDUMP_HELPER") == "" {
		return
	}
	if err := disableCoreDumps(); err != nil {
		t.Fatal(err)
	}
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &l); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("dumpable=%d core=%d/%d\n", d, l.Cur, l.Max)
}
