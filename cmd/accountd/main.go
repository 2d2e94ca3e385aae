// Command accountd is the account server.
//
//	accountd                 first run: set up; later runs: unlock and serve
//	accountd setup [flags]   create the data folder, database and sealed config
//	accountd serve [flags]   unlock the config and serve
//	accountd events [flags]  print the audit log
//	accountd version
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/setup"
	"github.com/accountd/accountd/store/sqlstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "accountd: error: %s\nhint: run 'accountd -h' for usage\n", ue.msg)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "accountd: error: %s\n", err)
		var hint hintError
		if errors.As(err, &hint) {
			fmt.Fprintf(os.Stderr, "hint: %s\n", hint.hint)
		}
		os.Exit(1)
	}
}

const usage = `usage: accountd [command] [flags]

commands:
  (none)   first run: set up in this terminal; later runs: unlock and serve
  setup    set up: data folder, database, sealed config
  serve    unlock the sealed config and serve
  events   print the audit log of authentication decisions
  version  print the version

Run 'accountd <command> -h' for a command's flags.
`

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// hintError carries a line telling the user what to do.
type hintError struct {
	err  error
	hint string
}

func (e hintError) Error() string { return e.err.Error() }
func (e hintError) Unwrap() error { return e.err }

func run(ctx context.Context, args []string) error {
	cmd := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "":
		return firstRunOrServe(ctx, args)
	case "setup":
		return setupCmd(ctx, args)
	case "serve":
		return serveCmd(ctx, args)
	case "events":
		return eventsCmd(ctx, args)
	case "version":
		fmt.Println("accountd", version())
		return nil
	case "help":
		fmt.Print(usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// defaultDataDir is $ACCOUNTD_DATA_DIR, else <user config dir>/accountd.
func defaultDataDir() string {
	if d := os.Getenv("ACCOUNTD_DATA_DIR"); d != "" {
		return d
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "accountd")
	}
	return ""
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// adminPassword reads the admin password from a file, or asks for it on
// the terminal with no echo (twice when confirm is set).
func adminPassword(file string, confirm bool) ([]byte, error) {
	if file != "" {
		return setup.ReadPasswordFile(file)
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, hintError{errors.New("no admin password: stdin is not a terminal"), "pass --admin-password-file FILE"}
	}
	fmt.Fprint(os.Stderr, "Admin password: ")
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("read admin password: %w", err)
	}
	if confirm {
		fmt.Fprint(os.Stderr, "Admin password again: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return nil, fmt.Errorf("read admin password: %w", err)
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("the two admin passwords differ")
		}
	}
	return pw, nil
}

func setupCmd(ctx context.Context, args []string) error {
	fs := newFlagSet("accountd setup")
	nonInteractive := fs.Bool("non-interactive", false, "take every answer from flags (required until the interactive setup lands)")
	dataDir := fs.String("data-dir", defaultDataDir(), "data folder (env ACCOUNTD_DATA_DIR)")
	db := fs.String("db", "sqlite", "database: sqlite (embedded file in the data folder) or mysql")
	dsn := fs.String("db-dsn", "", "MariaDB/MySQL DSN, e.g. user:pass@tcp(127.0.0.1:3306)/accountd (with --db mysql)")
	listen := fs.String("listen", setup.DefaultListen, "address to listen on, host:port")
	pwFile := fs.String("admin-password-file", os.Getenv("ACCOUNTD_ADMIN_PASSWORD_FILE"), "file holding the admin password (env ACCOUNTD_ADMIN_PASSWORD_FILE)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !*nonInteractive && !term.IsTerminal(int(os.Stdin.Fd())) {
		return usageError{"no terminal: pass --non-interactive with every answer as a flag"}
	}
	if *dataDir == "" {
		return usageError{"--data-dir is required"}
	}
	pw, err := adminPassword(*pwFile, true)
	if err != nil {
		return err
	}
	defer clear(pw)
	cfg, err := setup.Run(ctx, setup.Options{DataDir: *dataDir, Driver: *db, DSN: *dsn, Listen: *listen, AdminPassword: pw})
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(*dataDir)
	fmt.Fprintf(os.Stderr, "accountd is set up in %s\n  store:    %s\n  listen:   %s\n  identity: %s\nstart it with: accountd serve --data-dir %s\n",
		abs, cfg.Database.Driver, cfg.Listen, cfg.IdentityFingerprint(), abs)
	return nil
}

// firstRunOrServe is what plain `accountd` does.
func firstRunOrServe(ctx context.Context, args []string) error {
	fs := newFlagSet("accountd")
	dataDir := fs.String("data-dir", defaultDataDir(), "data folder (env ACCOUNTD_DATA_DIR)")
	if err := parse(fs, args); err != nil {
		return err
	}
	ok, err := setup.IsSetUp(*dataDir)
	if err != nil {
		return err
	}
	if ok {
		return serveCmd(ctx, []string{"--data-dir", *dataDir})
	}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return hintError{fmt.Errorf("accountd is not set up in %s and there is no terminal to ask in", *dataDir),
			"run 'accountd setup --non-interactive ...' (see 'accountd setup -h')"}
	}
	fmt.Fprintf(os.Stderr, "First run: setting up accountd in %s with the embedded SQLite store, listening on %s.\n", *dataDir, setup.DefaultListen)
	fmt.Fprintf(os.Stderr, "Choose an admin password (at least %d characters); it unlocks the server at every start.\n", setup.MinAdminPasswordLength)
	pw, err := adminPassword("", true)
	if err != nil {
		return err
	}
	defer clear(pw)
	cfg, err := setup.Run(ctx, setup.Options{DataDir: *dataDir, Driver: setup.DriverSQLite, AdminPassword: pw})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "Set up. Server identity: %s\n", cfg.IdentityFingerprint())
	return serve(ctx, cfg, "text", slog.LevelInfo, defaultServeOptions())
}

func serveCmd(ctx context.Context, args []string) error {
	fs := newFlagSet("accountd serve")
	dataDir := fs.String("data-dir", defaultDataDir(), "data folder (env ACCOUNTD_DATA_DIR)")
	pwFile := fs.String("admin-password-file", os.Getenv("ACCOUNTD_ADMIN_PASSWORD_FILE"), "file holding the admin password (env ACCOUNTD_ADMIN_PASSWORD_FILE)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	opts := defaultServeOptions()
	opts.flags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := opts.check(); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", *logLevel)}
	}
	if *logFormat != "text" && *logFormat != "json" {
		return usageError{fmt.Sprintf("--log-format %q: want text or json", *logFormat)}
	}
	ok, err := setup.IsSetUp(*dataDir)
	if err != nil {
		return err
	}
	if !ok {
		return hintError{fmt.Errorf("accountd is not set up in %s", *dataDir), "run 'accountd setup' first, or pass --data-dir"}
	}
	pw, err := adminPassword(*pwFile, false)
	if err != nil {
		return err
	}
	cfg, err := setup.Unlock(*dataDir, pw)
	clear(pw)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, *logFormat, level, opts)
}

// serve opens the store, builds the server and serves until ctx ends,
// then shuts down gracefully.
func serve(ctx context.Context, cfg *setup.Config, logFormat string, level slog.Level, opts serveOptions) error {
	var h slog.Handler = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	if logFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	}
	log := slog.New(h)
	sqlstore.SetDriverLogger(log)

	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db, err := sqlstore.Open(octx, cfg.Database.Driver, cfg.Database.DSN)
	if err != nil {
		return fmt.Errorf("open %s store: %w", cfg.Database.Driver, err)
	}
	defer db.Close()
	if err := db.Migrate(octx); err != nil {
		return fmt.Errorf("migrate %s store: %w", cfg.Database.Driver, err)
	}
	scfg := server.Config{
		Store:             db,
		MasterKey:         cfg.MasterKey,
		Identity:          cfg.IdentityKey,
		Issuer:            cfg.Server.Issuer,
		Audience:          cfg.Server.Audience,
		TokenLifetime:     time.Duration(cfg.Server.TokenLifetime),
		SessionLifetime:   time.Duration(cfg.Server.SessionLifetime),
		AllowedOrigins:    cfg.Server.AllowedOrigins,
		SigningAlgorithm:  cfg.Server.SigningAlgorithm,
		MinPasswordLength: cfg.Server.MinPasswordLength,
		Limits: server.Limits{RateLimit: cfg.Server.RateLimit, RateBurst: cfg.Server.RateBurst,
			LockAfter: cfg.Server.LockAfter, AuditRetention: time.Duration(cfg.Server.AuditRetention)},
		Logger: log,
	}
	opts.apply(&scfg)
	if opts.listen != "" {
		cfg.Listen = opts.listen
	}
	if a := cfg.Server.Argon2; a != nil {
		scfg.Argon2 = server.Argon2Params{Time: a.Time, MemoryKiB: a.MemoryKiB, Threads: a.Threads}
	}
	srv, err := server.New(octx, scfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := srv.HTTPServer(cfg.Listen)
	log.Info("accountd serving", "addr", ln.Addr().String(), "store", cfg.Database.String(), "identity", cfg.IdentityFingerprint(), "version", version())
	go srv.Service().RunAuditPruner(ctx)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), opts.shutdownTimeout)
	defer scancel()
	hs.Shutdown(sctx)
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("connections cut at the shutdown deadline", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}
