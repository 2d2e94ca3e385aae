package sqlstore

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// TestMySQLConflictField covers the message formats of MariaDB and MySQL 8
// (which prefixes the key with the table name); the live server only shows
// one of them.
func TestMySQLConflictField(t *testing.T) {
	tests := []struct {
		msg       string
		wantField string
	}{
		{"Duplicate entry 'alice' for key 'accounts_username'", "username"},
		{"Duplicate entry 'alice' for key 'accounts.accounts_username'", "username"},
		{"Duplicate entry 'a@b' for key 'accounts_email'", "email"},
		{"Duplicate entry 'x' for key 'PRIMARY'", "id"},
		{"Duplicate entry 'x' for key 'sessions.PRIMARY'", "id"},
		{"Duplicate entry 'x' for key 'y' for key 'accounts_email'", "email"},
		{"Duplicate entry 'x' for key 'some_new_key'", "some_new_key"},
	}
	d := mysqlDialect{}
	for _, tt := range tests {
		err := fmt.Errorf("wrapped: %w", &mysql.MySQLError{Number: 1062, Message: tt.msg})
		field, ok := d.conflictField(err)
		if !ok || field != tt.wantField {
			t.Errorf("conflictField(%q) = %q, %v; want %q, true", tt.msg, field, ok, tt.wantField)
		}
	}
	for _, err := range []error{
		&mysql.MySQLError{Number: 1452, Message: "Cannot add or update a child row"},
		errors.New("Duplicate entry 'x' for key 'PRIMARY'"), // not a server error
	} {
		if field, ok := d.conflictField(err); ok {
			t.Errorf("conflictField(%v) = %q, true; want false", err, field)
		}
	}
}

func TestQuoteMySQLIdentifier(t *testing.T) {
	for in, want := range map[string]string{
		"accountd": "`accountd`",
		"a-b$c":    "`a-b$c`",
		"we`ird":   "`we``ird`",
		"``":       "``````",
	} {
		if got := quoteMySQLIdentifier(in); got != want {
			t.Errorf("quoteMySQLIdentifier(%q) = %s, want %s", in, got, want)
		}
	}
}
