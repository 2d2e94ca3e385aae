package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/term"

	"github.com/accountd/accountd/setup"
	"github.com/accountd/accountd/setup/wizard"
)

// accessibleDefault is huh's convention: ACCESSIBLE=1 asks with plain
// prompts.
func accessibleDefault() bool {
	v, _ := strconv.ParseBool(os.Getenv("ACCESSIBLE"))
	return v
}

// runWizard asks the first-run questions, sets up, remembers the data
// folder and says how to start the server.
func runWizard(ctx context.Context, dataDir string, accessible bool, a *answers) error {
	if !accessible && !(stdinIsTerminal() && term.IsTerminal(int(os.Stdout.Fd()))) {
		return hintError{fmt.Errorf("accountd is not set up in %s and there is no terminal to ask in", dataDir),
			"run 'accountd setup --non-interactive ...' (see 'accountd setup -h'), or pass --accessible to answer line by line"}
	}
	o := wizard.Options{DataDir: dataDir, Accessible: accessible, Listen: a.listen, Driver: a.db}
	so := setup.Options{Listen: a.listen}
	if err := a.settings.apply(&so); err != nil {
		return err
	}
	o.Server = so.Server
	if old, err := setup.RememberedDataDir(); err == nil && old != "" {
		if ok, _ := setup.IsSetUp(old); ok {
			o.Remembered = old
		}
	}
	if port, err := strconv.Atoi(a.port); err == nil {
		o.MySQL = setup.MySQLServer{Host: a.host, Port: port, User: a.user, Name: a.name}
	}
	res, err := wizard.Run(ctx, o)
	if errors.Is(err, wizard.ErrAborted) {
		fmt.Fprintln(os.Stderr, "Setup cancelled; nothing was written.")
		return exitError{code: 130}
	}
	if err != nil {
		return err
	}
	done(res.Config, res.DataDir, res.Remember)
	return nil
}

// done prints what was set up and how to start the server. With remember
// (the wizard) it first records the data folder, so that plain `accountd`
// finds it; a scripted setup names its folder in its own commands and
// leaves the user's config folder alone.
func done(cfg *setup.Config, dataDir string, remember bool) {
	// Name the program as it was started (bin/accountd from a checkout).
	start := "accountd"
	if strings.ContainsRune(os.Args[0], filepath.Separator) {
		start = os.Args[0]
	}
	if !remember {
		start += " serve --data-dir " + dataDir
	} else if err := setup.RememberDataDir(dataDir); err != nil {
		fmt.Fprintf(os.Stderr, "warning: could not remember the data folder (%v)\n", err)
		start += " --data-dir " + dataDir
	}
	fmt.Printf(`accountd is set up.
  data folder: %s
  accounts:    %s
  listen:      %s
  identity:    %s

Clients pin the identity fingerprint on first connection: compare it.
Start the server with:

  %s

`, dataDir, cfg.Database.String(), cfg.Listen, cfg.IdentityFingerprint(), start)
}

func setupCmd(ctx context.Context, args []string) error {
	fs := newFlagSet("accountd setup")
	c := addCommon(fs)
	a := addAnswers(fs, true)
	nonInteractive := fs.Bool("non-interactive", false, "take every answer from flags and environment; ask nothing")
	accessible := fs.Bool("accessible", accessibleDefault(), "ask with plain line-by-line prompts (screen readers, scripts; env ACCESSIBLE)")
	if err := parse(fs, args); err != nil {
		return err
	}
	dir, err := c.resolveDataDir()
	if err != nil {
		return err
	}
	if !*nonInteractive {
		if ok, err := setup.IsSetUp(dir); err != nil {
			return err
		} else if ok {
			return hintError{fmt.Errorf("%w: %s exists", setup.ErrAlreadySetUp, setup.ConfigPath(dir)), "start it with 'accountd'; 'accountd passwd' changes the admin password"}
		}
		return runWizard(ctx, dir, *accessible, a)
	}
	cfg, err := setupFromAnswers(ctx, dir, c, a)
	if err != nil {
		return err
	}
	done(cfg, dir, false)
	return nil
}

// setupFromAnswers is the non-interactive first run.
func setupFromAnswers(ctx context.Context, dir string, c *common, a *answers) (*setup.Config, error) {
	o, err := a.options(dir)
	if err != nil {
		return nil, err
	}
	pw, err := adminPassword(c.pwFile, true)
	if err != nil {
		return nil, err
	}
	defer clear(pw)
	o.AdminPassword = pw
	return setup.Run(ctx, o)
}

// firstRunOrServe is plain `accountd`: the wizard when there is no config
// yet, else unlock and serve.
func firstRunOrServe(ctx context.Context, args []string) error {
	fs := newFlagSet("accountd")
	c := addCommon(fs)
	sf := addServeFlags(fs)
	a := addAnswers(fs, false)
	accessible := fs.Bool("accessible", accessibleDefault(), "first run: ask with plain line-by-line prompts (screen readers, scripts; env ACCESSIBLE)")
	if err := parse(fs, args); err != nil {
		return err
	}
	sf.parsed()
	sf.dbAddr = a.addrOverride(fs)
	a.listen = cmp.Or(sf.opts.listen, setup.DefaultListen)
	dir, err := c.resolveDataDir()
	if err != nil {
		return err
	}
	ok, err := setup.IsSetUp(dir)
	if err != nil {
		return err
	}
	if !ok {
		return runWizard(ctx, dir, *accessible, a)
	}
	return unlockAndServe(ctx, c, sf, nil)
}

// serveFlags are the flags of serving.
type serveFlags struct {
	logFormat, logLevel string
	opts                serveOptions
	// dbAddr, when set, replaces the sealed config's MariaDB/MySQL
	// address on this instance (--db-host and --db-port given).
	dbAddr string
}

func addServeFlags(fs *flag.FlagSet) *serveFlags {
	s := &serveFlags{opts: defaultServeOptions()}
	s.opts.flags(fs)
	fs.StringVar(&s.logFormat, "log-format", envOr("ACCOUNTD_LOG_FORMAT", "text"), "log format: text or json (env ACCOUNTD_LOG_FORMAT)")
	fs.StringVar(&s.logLevel, "log-level", envOr("ACCOUNTD_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env ACCOUNTD_LOG_LEVEL)")
	return s
}

// parsed completes the flags after parsing: --listen, which overrides the
// config's address, defaults to $ACCOUNTD_LISTEN.
func (s *serveFlags) parsed() {
	s.opts.listen = cmp.Or(s.opts.listen, os.Getenv("ACCOUNTD_LISTEN"))
}

func serveCmd(ctx context.Context, args []string) error {
	fs := newFlagSet("accountd serve")
	c := addCommon(fs)
	sf := addServeFlags(fs)
	a := addAnswers(fs, false)
	ifNeeded := fs.Bool("setup-if-needed", false, "when there is no config yet, set up from the --db/--listen flags and their environment variables first (containers)")
	if err := parse(fs, args); err != nil {
		return err
	}
	sf.parsed()
	sf.dbAddr = a.addrOverride(fs)
	a.listen = cmp.Or(sf.opts.listen, setup.DefaultListen)
	if *ifNeeded {
		dir, err := c.resolveDataDir()
		if err != nil {
			return err
		}
		ok, err := setup.IsSetUp(dir)
		if err != nil {
			return err
		}
		c.dataDir = dir
		if !ok {
			pw, err := setupForServe(ctx, dir, c, a)
			if err != nil {
				return err
			}
			return unlockAndServe(ctx, c, sf, pw)
		}
	}
	return unlockAndServe(ctx, c, sf, nil)
}

// setupForServe is the first start of a container: set up from the
// answers. It returns the admin password it read, to unlock with.
func setupForServe(ctx context.Context, dir string, c *common, a *answers) ([]byte, error) {
	o, err := a.options(dir)
	if err != nil {
		return nil, err
	}
	pw, err := adminPassword(c.pwFile, false)
	if err != nil {
		return nil, err
	}
	o.AdminPassword = pw
	cfg, err := setup.Run(ctx, o)
	switch {
	case errors.Is(err, setup.ErrAlreadySetUp):
		// Another instance set up first: unlock its config.
	case err != nil:
		clear(pw)
		return nil, err
	default:
		fmt.Fprintf(os.Stderr, "accountd: set up in %s (%s); identity %s\n", dir, cfg.Database.String(), cfg.IdentityFingerprint())
	}
	return pw, nil
}

// unlockAndServe opens the sealed config, with pw or else the admin
// password from c's sources, and serves.
func unlockAndServe(ctx context.Context, c *common, sf *serveFlags, pw []byte) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(sf.logLevel)); err != nil {
		return usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", sf.logLevel)}
	}
	if sf.logFormat != "text" && sf.logFormat != "json" {
		return usageError{fmt.Sprintf("--log-format %q: want text or json", sf.logFormat)}
	}
	if err := sf.opts.check(); err != nil {
		return err
	}
	// SIGHUP unlocks the config again with the same password: from its
	// file, read again then, or as given in the environment.
	envPW := []byte(os.Getenv(adminPasswordEnv))
	if pw != nil {
		envPW = slices.Clone(pw)
	}
	cfg, dir, err := c.unlockWith(pw)
	if err != nil {
		return err
	}
	if sf.dbAddr != "" {
		if cfg.Database, err = cfg.Database.WithAddr(sf.dbAddr); err != nil {
			return usageError{fmt.Sprintf("--db-host/--db-port: %v", err)}
		}
	}
	warnIgnoredEnv(cfg)
	switch {
	case c.pwFile != "":
		sf.opts.reopen = func() (*setup.Config, error) {
			pw, err := setup.ReadPasswordFile(c.pwFile)
			if err != nil {
				return nil, err
			}
			defer clear(pw)
			cfg, err := setup.Unlock(dir, pw)
			return cfg, withConfigPath(err, dir)
		}
	case len(envPW) > 0:
		sf.opts.reopen = func() (*setup.Config, error) {
			cfg, err := setup.Unlock(dir, envPW)
			return cfg, withConfigPath(err, dir)
		}
	}
	return serve(ctx, cfg, sf.logFormat, level, sf.opts)
}
