package account_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: a
// Service's key maintenance that Close did not stop, an audit pruner left
// running, a store connection pool left open. No library goroutine needs
// ignoring: the SQLite and MySQL drivers and database/sql stop theirs when
// the store is closed, and sqltest closes every store at cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
