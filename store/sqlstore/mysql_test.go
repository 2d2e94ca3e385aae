package sqlstore_test

import (
	"database/sql"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestMySQLDuplicateEntry checks the mapping of MySQL error 1062 to
// *store.ConflictError for each unique key, against the real server.
func TestMySQLDuplicateEntry(t *testing.T) {
	t.Parallel()
	db := sqltest.NewMySQL(t)
	now := time.Now()
	first := store.Account{ID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Username: "alice", Email: "alice@example.com",
		PasswordHash: "h", CreatedAt: now, UpdatedAt: now}
	if err := db.CreateAccount(ctxFor(t), first, store.AuthEvent{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		a     store.Account
	}{
		{"id", store.Account{ID: first.ID, Username: "bob", PasswordHash: "h", CreatedAt: now, UpdatedAt: now}},
		// An entry that looks like the message's own syntax must not
		// confuse the key name parsing.
		{"username", store.Account{ID: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", Username: "alice",
			Email: "x' for key 'PRIMARY", PasswordHash: "h", CreatedAt: now, UpdatedAt: now}},
		{"email", store.Account{ID: "cccccccccccccccccccccccccccccccc", Username: "carol' for key 'PRIMARY",
			Email: "alice@example.com", PasswordHash: "h", CreatedAt: now, UpdatedAt: now}},
	}
	for _, tt := range tests {
		err := db.CreateAccount(ctxFor(t), tt.a, store.AuthEvent{})
		var conflict *store.ConflictError
		if !errors.As(err, &conflict) || conflict.Field != tt.field || !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("duplicate %s: CreateAccount = %v, want *store.ConflictError{Field: %q}", tt.field, err, tt.field)
		}
	}
}

func TestCreateDatabase(t *testing.T) {
	t.Parallel()
	dsn := sqltest.MySQLDSN(t) // created already: CreateDatabase must tolerate that
	for i := range 2 {
		if err := sqlstore.CreateDatabase(ctxFor(t), dsn); err != nil {
			t.Fatalf("CreateDatabase #%d on an existing database: %v", i+1, err)
		}
	}
	db := mustOpen(t, sqlstore.MySQL, dsn)
	if err := db.Migrate(ctxFor(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}

	// A database that does not exist yet, with a name that needs quoting.
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName += "-new$"
	fresh := cfg.FormatDSN()
	if err := sqlstore.CreateDatabase(ctxFor(t), fresh); err != nil {
		t.Fatalf("CreateDatabase(%q): %v", cfg.DBName, err)
	}
	t.Cleanup(func() { dropDatabase(t, cfg) })
	var charset string
	admin := serverConn(t, cfg)
	err = admin.QueryRowContext(ctxFor(t),
		"SELECT default_character_set_name FROM information_schema.schemata WHERE schema_name = ?",
		cfg.DBName).Scan(&charset)
	if err != nil {
		t.Fatalf("look up the new database: %v", err)
	}
	if charset != "utf8mb4" {
		t.Errorf("character set = %q, want utf8mb4", charset)
	}
	mustOpen(t, sqlstore.MySQL, fresh)
}

func TestCreateDatabaseInvalidName(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		"root@tcp(127.0.0.1:3306)/",
		"root@tcp(127.0.0.1:3306)/bad`name",
		"root@tcp(127.0.0.1:3306)/bad name",
		"root@tcp(127.0.0.1:3306)/bad;DROP",
		"root@tcp(127.0.0.1:3306)/" + strings.Repeat("x", 65),
		"not a dsn",
	} {
		err := sqlstore.CreateDatabase(ctxFor(t), dsn)
		if err == nil || !strings.HasPrefix(err.Error(), "sqlstore: create database: ") {
			t.Errorf("CreateDatabase(%q) = %v, want a sqlstore: create database: error", dsn, err)
		}
		if errors.Is(err, store.ErrUnavailable) {
			t.Errorf("CreateDatabase(%q) = %v, rejected before connecting, not unavailable", dsn, err)
		}
	}
}

// TestMySQLOutage puts a TCP proxy between the store and MariaDB, cuts it,
// and restores it: during the cut every operation must return
// store.ErrUnavailable, and afterwards the store must work again by itself.
func TestMySQLOutage(t *testing.T) {
	t.Parallel()
	dsn := sqltest.MySQLDSN(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, cfg.Addr)
	cfg.Addr = p.addr
	db := mustOpen(t, sqlstore.MySQL, cfg.FormatDSN())
	if err := db.Migrate(ctxFor(t)); err != nil {
		t.Fatal(err)
	}

	p.stop()
	if err := db.Ping(ctxFor(t)); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping during the outage = %v, want store.ErrUnavailable", err)
	}
	if _, err := db.GetAccount(ctxFor(t), "0123456789abcdef0123456789abcdef"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("GetAccount during the outage = %v, want store.ErrUnavailable", err)
	}
	now := time.Now()
	a := store.Account{ID: "0123456789abcdef0123456789abcdef", Username: "alice", PasswordHash: "h",
		CreatedAt: now, UpdatedAt: now}
	if err := db.CreateAccount(ctxFor(t), a, store.AuthEvent{}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("CreateAccount during the outage = %v, want store.ErrUnavailable", err)
	}

	p.start(t)
	if err := db.CreateAccount(ctxFor(t), a, store.AuthEvent{}); err != nil {
		t.Fatalf("CreateAccount after the outage: %v", err)
	}
	if _, err := db.GetAccount(ctxFor(t), a.ID); err != nil {
		t.Errorf("GetAccount after the outage: %v", err)
	}
}

// proxy forwards TCP connections from addr to target until stopped.
type proxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
	wg           sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	p := &proxy{addr: "127.0.0.1:0", target: target}
	p.start(t)
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) start(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.addr = ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Go(func() { io.Copy(up, c); up.Close() })
			p.wg.Go(func() { io.Copy(c, up); c.Close() })
		}
	})
}

// stop closes the listener and every connection, and waits for the
// forwarding goroutines to end.
func (p *proxy) stop() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func serverConn(t *testing.T, cfg *mysql.Config) *sql.DB {
	t.Helper()
	server := cfg.Clone()
	server.DBName = ""
	connector, err := mysql.NewConnector(server)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

func dropDatabase(t *testing.T, cfg *mysql.Config) {
	admin := serverConn(t, cfg)
	name := strings.ReplaceAll(cfg.DBName, "`", "``")
	if _, err := admin.Exec("DROP DATABASE IF EXISTS `" + name + "`"); err != nil {
		t.Errorf("drop database %s: %v", cfg.DBName, err)
	}
}
