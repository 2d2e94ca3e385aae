package server_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: every
// server a test starts must stop its connections and background work.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// database/sql's connection opener lives until its DB is closed;
		// stores are closed at each test's cleanup, but a pool closed
		// while a connection is being opened finishes that in the
		// background.
		goleak.IgnoreAnyFunction("database/sql.(*DB).connectionOpener"),
	)
}
