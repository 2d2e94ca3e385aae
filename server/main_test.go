package server_test

import (
	"flag"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: every
// server a test starts must stop its connections and background work.
//
// Most tests here keep a core busy (hashes, handshakes, floods): they
// call parallel(t) and run a few at a time, in cpuSlots. A few spend
// seconds waiting on other processes or on timers (a Galera cluster, a
// database outage, the Python client, idle and ping timeouts): they call
// t.Parallel() alone and run beside the others from the start. The
// testing package's own limit (-parallel, GOMAXPROCS by default) would
// hold those in line behind the busy ones, so it is raised unless given.
func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		flag.Set("test.parallel", "256")
	}
	goleak.VerifyTestMain(m,
		// database/sql's connection opener lives until its DB is closed;
		// stores are closed at each test's cleanup, but a pool closed
		// while a connection is being opened finishes that in the
		// background.
		goleak.IgnoreAnyFunction("database/sql.(*DB).connectionOpener"),
	)
}

// cpuSlots is how many tests that call parallel(t) run at once: one per
// core. The tests' own deadlines and timing margins are set for that.
var cpuSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// slotHolders are the names of the tests that hold a slot.
var slotHolders sync.Map

// parallel runs t in parallel with the package's other tests once it has
// one of cpuSlots, which it keeps until its cleanup ends. A test whose
// work is in parallel subtests calls t.Parallel() itself and leaves the
// slots to them; a subtest of one that holds a slot runs in its
// ancestor's (waiting for one of its own there could wait forever).
func parallel(t *testing.T) {
	t.Helper()
	t.Parallel()
	for name := t.Name(); strings.Contains(name, "/"); {
		name = name[:strings.LastIndexByte(name, '/')]
		if _, held := slotHolders.Load(name); held {
			return
		}
	}
	cpuSlots <- struct{}{}
	slotHolders.Store(t.Name(), true)
	// Registered first, so it runs last: after the servers the test
	// started have stopped.
	t.Cleanup(func() {
		slotHolders.Delete(t.Name())
		<-cpuSlots
	})
}
