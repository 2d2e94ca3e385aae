package setup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MySQLServer are the first-run answers about a MariaDB/MySQL server, the
// pieces DSN puts together.
type MySQLServer struct {
	// Host is the server's name or IP address, e.g. "127.0.0.1" or "db".
	Host string
	// Port is the TCP port, 1 to 65535. Default 3306.
	Port int
	// User is the account accountd logs in as.
	User string
	// Password is User's password; it may be empty.
	Password string
	// Name is the database; Run creates it when it does not exist.
	Name string
}

// Fields of MySQLServer, as FieldError names them.
const (
	FieldHost     = "host"
	FieldPort     = "port"
	FieldUser     = "user"
	FieldPassword = "password"
	FieldDatabase = "database"
)

// FieldError is an error that one answer causes; Field says which
// (FieldHost, FieldPort, ...), so a form can send the user back to it.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// mysqlDatabaseName is what sqlstore.CreateDatabase accepts.
var mysqlDatabaseName = regexp.MustCompile(`^[A-Za-z0-9_$-]{1,64}$`)

// Validate checks the answers without connecting.
func (m MySQLServer) Validate() error {
	if err := ValidateHost(m.Host); err != nil {
		return &FieldError{FieldHost, err}
	}
	if m.Port < 1 || m.Port > 65535 {
		return &FieldError{FieldPort, fmt.Errorf("port %d is outside 1 to 65535", m.Port)}
	}
	if m.User == "" {
		return &FieldError{FieldUser, errors.New("the user is empty")}
	}
	if len(m.User) > 80 || strings.ContainsAny(m.User, "\x00\n\r") {
		return &FieldError{FieldUser, errors.New("the user name is longer than 80 characters or has control characters")}
	}
	if strings.ContainsAny(m.Password, "\x00\n\r") {
		return &FieldError{FieldPassword, errors.New("the password has control characters")}
	}
	if !mysqlDatabaseName.MatchString(m.Name) {
		return &FieldError{FieldDatabase, fmt.Errorf("database name %q: use 1 to 64 letters, digits, '_', '$' or '-'", m.Name)}
	}
	return nil
}

// ValidateHost checks a database host name or IP address (no port).
func ValidateHost(host string) error {
	if host == "" {
		return errors.New("the host is empty")
	}
	if net.ParseIP(strings.Trim(host, "[]")) != nil {
		return nil
	}
	if len(host) > 253 || strings.ContainsAny(host, " \t\r\n/:@()[]") {
		return fmt.Errorf("host %q is not a host name or IP address", host)
	}
	return nil
}

// ParsePort parses a TCP port number, 1 to 65535.
func ParsePort(s string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("port %q: want a number from 1 to 65535", s)
	}
	return p, nil
}

// config is the go-sql-driver/mysql config for m.
func (m MySQLServer) config() *mysql.Config {
	c := mysql.NewConfig()
	c.User = m.User
	c.Passwd = m.Password
	c.Net = "tcp"
	c.Addr = net.JoinHostPort(strings.Trim(m.Host, "[]"), strconv.Itoa(m.Port))
	c.DBName = m.Name
	return c
}

// DSN returns the go-sql-driver/mysql DSN for m, password included:
// keep it secret.
func (m MySQLServer) DSN() string { return m.config().FormatDSN() }

// MySQL error numbers CheckMySQL tells apart.
const (
	errAccessDenied = 1045 // ER_ACCESS_DENIED_ERROR: user or password
	// ER_ACCESS_DENIED_NO_PASSWORD_ERROR: MariaDB's answer for some unknown
	// users, depending on the authentication plugin it falls back to.
	errAccessDeniedNoPassword = 1698
	errHostNotPrivileged      = 1130 // ER_HOST_NOT_PRIVILEGED: user not allowed from here
	errDBAccessDenied         = 1044 // ER_DBACCESS_DENIED_ERROR: no rights on the database
	errNoSuchTable            = 1146 // ER_NO_SUCH_TABLE
)

// checkTimeout bounds each step of CheckMySQL.
const checkTimeout = 10 * time.Second

// CheckMySQL connects to the server m names and checks what the first run
// needs: the server answers, the user and password are accepted, and the
// database either does not exist yet (Run creates it) or is one the user
// may use and that holds no earlier setup. Its errors are *FieldError,
// naming the answer to fix; the message never contains the password.
// exists reports whether the database exists already.
func CheckMySQL(ctx context.Context, m MySQLServer) (exists bool, err error) {
	if err := m.Validate(); err != nil {
		return false, err
	}
	c := m.config()
	c.DBName = ""
	c.Timeout = checkTimeout
	connector, err := mysql.NewConnector(c)
	if err != nil {
		return false, &FieldError{FieldHost, errors.New("cannot build a connection to this server")}
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		return false, m.connectError(err)
	}
	var n int
	err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", m.Name).Scan(&n)
	if err != nil {
		return false, &FieldError{FieldDatabase, fmt.Errorf("cannot look up database %s: %s", m.Name, mysqlMessage(err))}
	}
	if n == 0 {
		// Missing, or there but hidden from this user. Run will create
		// it, which needs the CREATE privilege on it.
		if err := canCreate(ctx, db, m.Name); err != nil {
			return false, &FieldError{FieldDatabase, fmt.Errorf("user %s may not create database %s (or it exists and the user may not use it): %w\nhint: GRANT ALL ON `%s`.* TO the user, or choose another database", m.User, m.Name, err, m.Name)}
		}
		return false, nil
	}
	// It exists: the user must be able to use it, and it must not hold
	// signing keys of an earlier setup (Run would refuse them).
	q := "SELECT COUNT(*) FROM `" + m.Name + "`.signing_keys" // name checked by Validate
	err = db.QueryRowContext(ctx, q).Scan(&n)
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &me) && me.Number == errNoSuchTable:
		return true, nil
	case errors.As(err, &me) && (me.Number == errDBAccessDenied || me.Number == 1142):
		return true, &FieldError{FieldDatabase, fmt.Errorf("user %s may not use database %s\nhint: GRANT ALL ON `%s`.* TO the user, or choose another database", m.User, m.Name, m.Name)}
	case err != nil:
		return true, &FieldError{FieldDatabase, fmt.Errorf("cannot read database %s: %s", m.Name, mysqlMessage(err))}
	case n > 0:
		return true, &FieldError{FieldDatabase, fmt.Errorf("database %s already holds an accountd setup (%d signing keys sealed under its own config)\nhint: choose another database, or restore that setup's config file", m.Name, n)}
	}
	return true, nil
}

// canCreate reports, from the privilege tables, whether the connected user
// may create database name: with CREATE granted globally, or on a
// database pattern that matches name.
func canCreate(ctx context.Context, db *sql.DB, name string) error {
	const grantee = `CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')`
	var n int
	err := db.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES
		  WHERE GRANTEE = `+grantee+` AND PRIVILEGE_TYPE = 'CREATE') +
		(SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES
		  WHERE GRANTEE = `+grantee+` AND PRIVILEGE_TYPE = 'CREATE' AND ? LIKE TABLE_SCHEMA)`, name).Scan(&n)
	if err != nil {
		return errors.New(mysqlMessage(err))
	}
	if n == 0 {
		return errors.New("no CREATE privilege")
	}
	return nil
}

// connectError turns a failed connection into an answer to fix.
func (m MySQLServer) connectError(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case errAccessDenied, errAccessDeniedNoPassword:
			return &FieldError{FieldPassword, fmt.Errorf("the server refused user %s with this password", m.User)}
		case errHostNotPrivileged:
			return &FieldError{FieldUser, fmt.Errorf("user %s may not connect from this machine", m.User)}
		}
		return &FieldError{FieldHost, fmt.Errorf("the server refused the connection: %s", mysqlMessage(err))}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return &FieldError{FieldHost, fmt.Errorf("cannot resolve host %s", m.Host)}
	}
	addr := net.JoinHostPort(strings.Trim(m.Host, "[]"), strconv.Itoa(m.Port))
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		if opErr.Timeout() {
			return &FieldError{FieldHost, fmt.Errorf("no answer from %s within %v", addr, checkTimeout)}
		}
		return &FieldError{FieldPort, fmt.Errorf("nothing accepts connections at %s (is the server running, and is this its port?)", addr)}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &FieldError{FieldHost, fmt.Errorf("no answer from %s within %v", addr, checkTimeout)}
	}
	return &FieldError{FieldHost, fmt.Errorf("cannot talk to a MariaDB/MySQL server at %s: %s", addr, mysqlMessage(err))}
}

// mysqlMessage is the server's own message, which never holds the
// password, or a generic one.
func mysqlMessage(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Message
	}
	if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, mysql.ErrMalformPkt) {
		return "the server does not speak the MySQL protocol"
	}
	return "connection failed"
}
