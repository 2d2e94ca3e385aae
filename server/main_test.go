package server_test

import (
	"flag"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

// parallelTests is how many of this package's parallel tests run at once
// when -parallel is not given: enough for all of them. Most spend their
// time waiting (on a store timeout, a stopped database, a Galera view
// change, an idle timeout, the Python client) rather than on the CPU, and
// the longest of them (the Galera cluster) must not wait for a turn
// behind the others, which the default of one per core would make it do.
// The tests that measure latency are not parallel: they run alone,
// before these.
const parallelTests = 64

// TestMain fails the package when a test leaves a goroutine behind: every
// server a test starts must stop its connections and background work.
func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		if err := flag.Set("test.parallel", strconv.Itoa(parallelTests)); err != nil {
			panic(err)
		}
	}
	goleak.VerifyTestMain(m,
		// database/sql's connection opener lives until its DB is closed;
		// stores are closed at each test's cleanup, but a pool closed
		// while a connection is being opened finishes that in the
		// background.
		goleak.IgnoreAnyFunction("database/sql.(*DB).connectionOpener"),
	)
}
