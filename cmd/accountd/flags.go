package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/accountd/accountd/setup"
)

// envOr returns $name, or def when it is unset or empty.
func envOr(name, def string) string { return cmp.Or(os.Getenv(name), def) }

// common are the flags of every command that opens the sealed config.
type common struct {
	dataDir string
	pwFile  string
}

func addCommon(fs *flag.FlagSet) *common {
	c := &common{}
	fs.StringVar(&c.dataDir, "data-dir", "", "data folder (env "+setup.DataDirEnv+"; default: the one chosen at setup, else the user config folder's accountd)")
	fs.StringVar(&c.pwFile, "admin-password-file", os.Getenv(adminPasswordFileEnv), "file holding the admin password (env "+adminPasswordFileEnv+"; or "+adminPasswordEnv+" holds it; else it is asked for)")
	return c
}

// resolveDataDir applies --data-dir, $ACCOUNTD_DATA_DIR, the remembered
// folder and the default, in that order.
func (c *common) resolveDataDir() (string, error) {
	dir, _, err := setup.ResolveDataDir(c.dataDir, os.Getenv(setup.DataDirEnv))
	return dir, err
}

// unlock finds the data folder, asks for the admin password and opens the
// sealed config.
func (c *common) unlock() (*setup.Config, string, error) { return c.unlockWith(nil) }

// unlockWith is unlock with the admin password pw, when it is not nil.
// It clears pw.
func (c *common) unlockWith(pw []byte) (*setup.Config, string, error) {
	defer clear(pw)
	dir, err := c.resolveDataDir()
	if err != nil {
		return nil, "", err
	}
	if err := c.requireSetUp(dir); err != nil {
		return nil, "", err
	}
	if pw == nil {
		if pw, err = adminPassword(c.pwFile, false); err != nil {
			return nil, "", err
		}
	}
	cfg, err := setup.Unlock(dir, pw)
	clear(pw)
	if err != nil {
		return nil, "", withConfigPath(err, dir)
	}
	return cfg, dir, nil
}

// setUpDirAndPassword finds the data folder, checks that it is set up and
// asks for the admin password: what every command that changes the
// sealed config does first. The caller clears the password.
func (c *common) setUpDirAndPassword() (string, []byte, error) {
	dir, err := c.resolveDataDir()
	if err != nil {
		return "", nil, err
	}
	if err := c.requireSetUp(dir); err != nil {
		return "", nil, err
	}
	pw, err := adminPassword(c.pwFile, false)
	if err != nil {
		return "", nil, err
	}
	return dir, pw, nil
}

// requireSetUp returns an error with a hint when dir holds no config.
func (c *common) requireSetUp(dir string) error {
	if ok, err := setup.IsSetUp(dir); err != nil {
		return err
	} else if !ok {
		return hintError{fmt.Errorf("accountd is not set up in %s", dir), "run 'accountd' (or 'accountd setup') first, or pass --data-dir"}
	}
	return nil
}

// answers are the first-run answers as flags, each with an environment
// variable: what `setup --non-interactive` and `serve --setup-if-needed`
// use, and what the wizard proposes.
type answers struct {
	db, dsn, host, port, user, pwFile, name, listen string
	settings                                        *settingFlags
}

// addAnswers registers the answers' flags. Without withListen the caller
// sets a.listen itself (serve has its own --listen).
func addAnswers(fs *flag.FlagSet, withListen bool) *answers {
	a := &answers{}
	fs.StringVar(&a.db, "db", envOr("ACCOUNTD_DB", setup.DriverSQLite), "database: sqlite (embedded file in the data folder) or mysql (env ACCOUNTD_DB)")
	fs.StringVar(&a.host, "db-host", envOr("ACCOUNTD_DB_HOST", "127.0.0.1"), "MariaDB/MySQL host (env ACCOUNTD_DB_HOST); given to serve, this instance's host, overriding the sealed config's (its user, password and database stay)")
	fs.StringVar(&a.port, "db-port", envOr("ACCOUNTD_DB_PORT", "3306"), "MariaDB/MySQL port (env ACCOUNTD_DB_PORT); given to serve, as --db-host")
	fs.StringVar(&a.user, "db-user", envOr("ACCOUNTD_DB_USER", "accountd"), "MariaDB/MySQL user (env ACCOUNTD_DB_USER)")
	fs.StringVar(&a.pwFile, "db-password-file", os.Getenv("ACCOUNTD_DB_PASSWORD_FILE"), "file holding the MariaDB/MySQL password (env ACCOUNTD_DB_PASSWORD_FILE; or ACCOUNTD_DB_PASSWORD holds it)")
	fs.StringVar(&a.name, "db-name", envOr("ACCOUNTD_DB_NAME", "accountd"), "MariaDB/MySQL database, created if missing (env ACCOUNTD_DB_NAME)")
	fs.StringVar(&a.dsn, "db-dsn", os.Getenv("ACCOUNTD_DB_DSN"), "a whole MariaDB/MySQL DSN instead of the --db-* parts, e.g. user:pass@tcp(127.0.0.1:3306)/accountd (env ACCOUNTD_DB_DSN; a password here is visible to other local users in the process list: prefer the env or --db-password-file)")
	if withListen {
		fs.StringVar(&a.listen, "listen", envOr("ACCOUNTD_LISTEN", setup.DefaultListen), "address to listen on, host:port (env ACCOUNTD_LISTEN)")
		a.settings = addSettingFlags(fs, "listen")
	} else {
		// Serving has these flags for this instance only; their
		// environment variables still seed the first run's config.
		a.settings = addSettingFlags(fs, "listen", "rate_limit", "rate_burst")
	}
	return a
}

// addrOverride returns host:port when --db-host or --db-port (or their
// environment variables) were given, else "": at serve, they point this
// instance at its own node of a cluster.
func (a *answers) addrOverride(fs *flag.FlagSet) string {
	given := os.Getenv("ACCOUNTD_DB_HOST") != "" || os.Getenv("ACCOUNTD_DB_PORT") != ""
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "db-host" || f.Name == "db-port" })
	if !given {
		return ""
	}
	return net.JoinHostPort(a.host, a.port)
}

// mysqlServer returns the --db-* answers; the password is read from its
// file or environment variable.
func (a *answers) mysqlServer() (setup.MySQLServer, error) {
	port, err := strconv.Atoi(a.port)
	if err != nil {
		return setup.MySQLServer{}, usageError{fmt.Sprintf("--db-port %q is not a number", a.port)}
	}
	m := setup.MySQLServer{Host: a.host, Port: port, User: a.user, Name: a.name}
	switch {
	case a.pwFile != "":
		pw, err := setup.ReadPasswordFile(a.pwFile)
		if err != nil {
			return m, err
		}
		m.Password = string(pw)
	default:
		m.Password = os.Getenv("ACCOUNTD_DB_PASSWORD")
	}
	os.Unsetenv("ACCOUNTD_DB_PASSWORD")
	return m, nil
}

// options turns the answers into setup options (without the admin
// password).
func (a *answers) options(dataDir string) (setup.Options, error) {
	o := setup.Options{DataDir: dataDir, Driver: a.db, Listen: a.listen}
	if err := a.settings.apply(&o); err != nil {
		return o, err
	}
	switch a.db {
	case setup.DriverSQLite:
		if a.dsn != "" {
			return o, usageError{"--db-dsn is for --db mysql"}
		}
	case setup.DriverMySQL:
		if a.dsn != "" {
			o.DSN = a.dsn
			break
		}
		m, err := a.mysqlServer()
		if err != nil {
			return o, err
		}
		if err := m.Validate(); err != nil {
			var fe *setup.FieldError
			if errors.As(err, &fe) {
				return o, usageError{fmt.Sprintf("--db-%s: %v", flagOf(fe.Field), fe.Err)}
			}
			return o, err
		}
		o.DSN = m.DSN()
	default:
		return o, usageError{fmt.Sprintf("--db %q: want sqlite or mysql", a.db)}
	}
	return o, nil
}

// flagOf names the --db-* flag of a setup.FieldError field.
func flagOf(field string) string {
	if field == setup.FieldDatabase {
		return "name"
	}
	return field
}
