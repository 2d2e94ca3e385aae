// Command accountd is the account server.
//
//	accountd                 first run: the setup wizard; later runs: unlock and serve
//	accountd setup [flags]   set up (the wizard, or --non-interactive from flags and env)
//	accountd serve [flags]   unlock the config and serve (--setup-if-needed for containers)
//	accountd passwd          change the admin password
//	accountd config show     print every setting, secrets redacted
//	accountd config get|set  read or change one setting (SIGHUP applies it)
//	accountd keys list|rotate|rotate-master
//	accountd identity show|rotate
//	accountd users list|show|sessions|logout|disable|enable|delete|unlock|reset-mfa
//	accountd services add|list|revoke
//	accountd events [flags]  print the audit log
//	accountd version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/setup"
	"github.com/accountd/accountd/store/sqlstore"
)

func main() {
	// Before any secret is read: the admin password, the unsealed config.
	if err := disableCoreDumps(); err != nil {
		fmt.Fprintf(os.Stderr, "accountd: warning: could not turn core dumps off: %s\n", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if errors.Is(err, errHelp) {
		return
	}
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
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
  (none)        first run: the setup wizard; later runs: unlock and serve
  setup         set up: data folder, database, sealed config (--non-interactive: from flags)
  serve         unlock the sealed config and serve (--setup-if-needed: set up first if needed)
  passwd        change the admin password (re-seal the config)
  config show   list every setting, its value and whether it is the default
  config get K  print one setting
  config set K V
                change a setting (checked, audited, re-sealed); running
                servers apply it on SIGHUP, or at a restart for some
  keys list     list the JWT signing keys
  keys rotate   create a new signing key; it signs after a lead time
  keys rotate-master
                replace the master key: reseal the signing keys and TOTP
                secrets under a new one (stop the servers first)
  identity show print the server identity key's fingerprint (the one
                clients pin), and the previous key's during a rotation
  identity rotate [--overlap D] [--force]
                new identity key; the old one is announced beside it for
                D (default 720h) so that pinned clients move to the new
                one; --overlap 0 if the old key may be compromised.
                Running servers take it on SIGHUP, or at a restart
  users list    list the accounts
  users show U  show one account
  users sessions U
                list an account's live sessions
  users logout U
                end every session of an account
  users disable U | enable U | delete U
                disable (and log out), enable, or delete an account
  users unlock U
                clear an account's failed-login throttling
  users reset-mfa U
                turn an account's two-factor authentication off (and log it out)
  services add NAME [--scope admin]
                add an application backend's service key (shown once)
  services list | revoke NAME
                list the service keys, or revoke one at once
  events        print the audit log of authentication decisions
  version       print the version

Commands that open the config ask for the admin password, or read it from
--admin-password-file, $ACCOUNTD_ADMIN_PASSWORD_FILE or $ACCOUNTD_ADMIN_PASSWORD.
The data folder is --data-dir, else $ACCOUNTD_DATA_DIR, else the one chosen
at setup.

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

// errHelp is returned after a -h flag printed the usage: the program ends
// with status 0.
var errHelp = errors.New("help shown")

// exitError ends the program with a status and no message (it was said
// already).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func run(ctx context.Context, args []string) error {
	cmd := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	if cmd == "" && len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Print(usage)
		return nil
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
	case "passwd":
		return passwdCmd(ctx, args)
	case "config":
		return configCmd(ctx, args)
	case "keys":
		return keysCmd(ctx, args)
	case "identity":
		return identityCmd(ctx, args)
	case "users":
		return usersCmd(ctx, args)
	case "services":
		return servicesCmd(ctx, args)
	case "version":
		fmt.Println("accountd", version())
		return nil
	case "help":
		fmt.Print(usage)
		return nil
	}

	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// buildVersion is set at build time (-ldflags "-X main.buildVersion=v1.2.3",
// as `make build` and `make image` do); a build without it reports the
// module version, or (devel).
var buildVersion string

func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
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
	// Unlocking the config ran Argon2id over 64 MiB: give that memory
	// back before serving, so a server at rest holds only what it uses.
	debug.FreeOSMemory()

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
	// Before the server sizes its connection cap from the limit.
	if n, err := raiseFileLimit(); err != nil {
		log.Warn("could not raise the open-file limit", "err", err)
	} else {
		log.Debug("open-file limit", "limit", n)
	}
	scfg := serverConfig(cfg, db, opts, log)
	if opts.listen != "" {
		cfg.Listen = opts.listen
	}
	srv, err := server.New(octx, scfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if ln, err = listener(srv, ln, opts, log); err != nil {
		return err
	}
	go reloadOnHangup(ctx, srv, cfg, db, opts, log)
	hs := srv.HTTPServer(cfg.Listen)
	log.Info("accountd serving", "addr", ln.Addr().String(), "tls", opts.tlsCert != "", "store", cfg.Database.String(), "identity", cfg.IdentityFingerprint(), "previous_identity", cfg.PreviousIdentityFingerprint(), "version", version())
	if cfg.Server.SMTPHost == "" {
		log.Info("mail is off (no smtp_host): no email verification, password reset or notices")
	} else {
		log.Info("mail on", "smtp_host", cfg.Server.SMTPHost, "smtp_tls", cmpOr(cfg.Server.SMTPTLS, "starttls"))
	}
	go srv.Service().RunAuditPruner(ctx)
	go srv.Service().RunSessionPruner(ctx)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(srv.Listener(ln)) }()
	var ms *http.Server
	if opts.metricsListen != "" {
		mln, err := net.Listen("tcp", opts.metricsListen)
		if err != nil {
			hs.Close()
			srv.Shutdown(ctx)
			return fmt.Errorf("listen for metrics: %w", err)
		}
		ms = &http.Server{Handler: srv.MetricsHandler(), ReadHeaderTimeout: 5 * time.Second}
		log.Info("metrics served", "addr", mln.Addr().String())
		go ms.Serve(mln)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), opts.shutdownTimeout)
	defer scancel()
	hs.Shutdown(sctx)
	if ms != nil {
		ms.Shutdown(sctx)
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("connections cut at the shutdown deadline", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}
