package sqlstore_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore"
)

func TestSQLiteFileMode(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "accountd.db")
	db := mustOpen(t, sqlstore.SQLite, path)
	if err := db.Migrate(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := db.CreateAccount(ctxFor(t), store.Account{ID: "0123456789abcdef0123456789abcdef",
		Username: "alice", PasswordHash: "h", CreatedAt: now, UpdatedAt: now}, store.AuthEvent{}); err != nil {
		t.Fatal(err)
	}
	// The database and its WAL files hold password hashes: owner only.
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Errorf("stat: %v", err)
			continue
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", filepath.Base(name), mode)
		}
	}
}

// TestSQLiteExistingFile checks that an existing store open to group or
// others is refused with the fix, and that once private it opens with its
// data and its mode as the operator set it.
func TestSQLiteExistingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "accountd.db")
	db := mustOpen(t, sqlstore.SQLite, path)
	if err := db.Migrate(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a := store.Account{ID: "0123456789abcdef0123456789abcdef", Username: "alice", PasswordHash: "h",
		CreatedAt: now, UpdatedAt: now}
	if err := db.CreateAccount(ctxFor(t), a, store.AuthEvent{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, m := range []os.FileMode{0o640, 0o604} {
		if err := os.Chmod(path, m); err != nil {
			t.Fatal(err)
		}
		db, err := sqlstore.Open(ctxFor(t), sqlstore.SQLite, path)
		if err == nil {
			db.Close()
			t.Fatalf("mode %#o: the open store was opened", m)
		}
		if !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %#o: %v, want the chmod fix", m, err)
		}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, sqlstore.SQLite, path)
	if _, err := db.GetAccount(ctxFor(t), a.ID); err != nil {
		t.Errorf("GetAccount after reopening: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode = %#o after reopening, want 0600", mode)
	}
}

// TestSQLitePathNeedsEscaping opens a file whose path holds characters
// that mean something in a URI.
func TestSQLitePathNeedsEscaping(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a#b %41 c&d=e")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "accounts #1.db")
	db := mustOpen(t, sqlstore.SQLite, path)
	if err := db.Migrate(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not at the path given: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "accounts #1.db" && e.Name() != "accounts #1.db-wal" && e.Name() != "accounts #1.db-shm" {
			t.Errorf("unexpected file %q beside the database", e.Name())
		}
	}
}

// TestSQLiteConcurrentProcesses opens the same file twice, as the server
// and an admin command would from two processes, and writes through both
// at once: busy_timeout and IMMEDIATE transactions must make them wait for
// each other rather than fail with SQLITE_BUSY.
func TestSQLiteConcurrentProcesses(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "accountd.db")
	first := mustOpen(t, sqlstore.SQLite, path)
	if err := first.Migrate(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	second := mustOpen(t, sqlstore.SQLite, path)

	const writers, perWriter = 8, 20
	var wg sync.WaitGroup
	for i := range writers {
		db := first
		if i%2 == 1 {
			db = second
		}
		wg.Go(func() {
			for j := range perWriter {
				now := time.Now()
				a := store.Account{ID: fmt.Sprintf("%016x%016x", i, j), Username: fmt.Sprintf("u%d-%d", i, j),
					PasswordHash: "h", CreatedAt: now, UpdatedAt: now}
				if err := db.CreateAccount(ctxFor(t), a, store.AuthEvent{}); err != nil {
					t.Errorf("CreateAccount: %v", err)
					return
				}
				e := store.AuthEvent{At: now, Type: store.EventDisabled, Reason: store.ReasonAdmin, AccountID: a.ID}
				if _, err := db.SetAccountDisabled(ctxFor(t), a.ID, true, e); err != nil {
					t.Errorf("SetAccountDisabled: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, db := range []*sqlstore.DB{first, second} {
		all, err := db.ListAccounts(ctxFor(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != writers*perWriter {
			t.Errorf("ListAccounts = %d accounts, want %d", len(all), writers*perWriter)
		}
	}
}
