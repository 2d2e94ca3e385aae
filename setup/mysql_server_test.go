package setup

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

func TestMySQLServerValidate(t *testing.T) {
	ok := MySQLServer{Host: "db", Port: 3306, User: "accountd", Password: "p@ss:/()", Name: "accountd"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := mysql.ParseDSN(ok.DSN())
	if err != nil || c.Passwd != ok.Password || c.Addr != "db:3306" || c.DBName != "accountd" || c.User != "accountd" {
		t.Fatalf("DSN round trip: %+v, %v", c, err)
	}
	v6 := MySQLServer{Host: "::1", Port: 3306, User: "u", Name: "d"}
	if c, _ := mysql.ParseDSN(v6.DSN()); c == nil || c.Addr != "[::1]:3306" {
		t.Fatalf("IPv6 DSN %q", v6.DSN())
	}
	tests := []struct {
		change func(*MySQLServer)
		field  string
	}{
		{func(m *MySQLServer) { m.Host = "" }, FieldHost},
		{func(m *MySQLServer) { m.Host = "db:3306" }, FieldHost},
		{func(m *MySQLServer) { m.Port = 0 }, FieldPort},
		{func(m *MySQLServer) { m.Port = 65536 }, FieldPort},
		{func(m *MySQLServer) { m.User = "" }, FieldUser},
		{func(m *MySQLServer) { m.Password = "a\nb" }, FieldPassword},
		{func(m *MySQLServer) { m.Name = "" }, FieldDatabase},
		{func(m *MySQLServer) { m.Name = "a;drop" }, FieldDatabase},
		{func(m *MySQLServer) { m.Name = strings.Repeat("a", 65) }, FieldDatabase},
	}
	for _, tt := range tests {
		m := ok
		tt.change(&m)
		var fe *FieldError
		if err := m.Validate(); !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%+v: %v, want a %s error", m, err, tt.field)
		}
	}
	for s, want := range map[string]int{"3306": 3306, " 1 ": 1, "65535": 65535} {
		if p, err := ParsePort(s); err != nil || p != want {
			t.Errorf("ParsePort(%q) = %d, %v", s, p, err)
		}
	}
	for _, s := range []string{"", "0", "65536", "x", "-1"} {
		if _, err := ParsePort(s); err == nil {
			t.Errorf("ParsePort(%q) accepted", s)
		}
	}
}

// TestCheckMySQL runs the first run's connection test against the real
// MariaDB, with each answer wrong in turn.
func TestCheckMySQL(t *testing.T) {
	u := sqltest.NewMySQLUser(t)
	host, portStr, _ := net.SplitHostPort(u.Addr)
	port, _ := strconv.Atoi(portStr)
	good := MySQLServer{Host: host, Port: port, User: u.Name, Password: u.Password, Name: u.Database}
	ctx := testContext(t)

	exists, err := CheckMySQL(ctx, good)
	if err != nil || exists {
		t.Fatalf("fresh database: exists=%v, %v", exists, err)
	}

	// A closed port: find one by listening and closing.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	tests := []struct {
		name   string
		change func(*MySQLServer)
		field  string
		msg    string
	}{
		{"wrong password", func(m *MySQLServer) { m.Password = "not-" + m.Password }, FieldPassword, "refused user"},
		{"unknown user", func(m *MySQLServer) { m.User = "nobody_" + m.User }, FieldPassword, "refused user"},
		{"closed port", func(m *MySQLServer) { m.Port = closedPort }, FieldPort, "nothing accepts connections"},
		{"unknown host", func(m *MySQLServer) { m.Host = "no-such-host.invalid" }, FieldHost, "cannot resolve"},
		{"database of someone else", func(m *MySQLServer) { m.Name = "mysql" }, FieldDatabase, "may not use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good
			tt.change(&m)
			_, err := CheckMySQL(ctx, m)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("CheckMySQL = %v, want a %s error with %q", err, tt.field, tt.msg)
			}
			if strings.Contains(err.Error(), u.Password) {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}

	// After a setup the database exists and holds signing keys: refused.
	if err := sqlstore.CreateDatabase(ctx, good.DSN()); err != nil {
		t.Fatal(err)
	}
	if exists, err := CheckMySQL(ctx, good); err != nil || !exists {
		t.Fatalf("empty existing database: exists=%v, %v", exists, err)
	}
	o := sqliteOptions(t)
	o.Driver, o.DSN = DriverMySQL, good.DSN()
	if _, err := Run(ctx, o); err != nil {
		t.Fatal(err)
	}
	// Run makes no signing key (the server does at first start); make one.
	db, err := sqlstore.Open(ctx, DriverMySQL, good.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateSigningKey(ctx, testSigningKey()); err != nil {
		t.Fatal(err)
	}
	_, err = CheckMySQL(ctx, good)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != FieldDatabase || !strings.Contains(err.Error(), "already holds an accountd setup") {
		t.Fatalf("database of an earlier setup: %v", err)
	}
}

func testSigningKey() store.SigningKey {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return store.SigningKey{ID: "k1", Algorithm: "PS256", PublicKey: []byte{1}, SealedPrivateKey: []byte{2}, CreatedAt: now, ActiveAt: now}
}
