// Command account is accountd's terminal client: an interactive menu
// (client/menu) when run without a command in a terminal, and
// non-interactive subcommands for scripts (signup, login, whoami,
// refresh, logout, passwd, sessions, email, delete, mfa, verify-email,
// resend-verification, forgot-password, reset-password).
//
// Exit codes: 0 ok, 1 refused by the server, 2 usage, 3 connection or
// trust failure.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/accountd/accountd/client"
)

const (
	exitOK      = 0
	exitRefused = 1
	exitUsage   = 2
	exitConn    = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: account [--server URL] [--remember] [--accessible]   the interactive menu
       account <command> [flags]

commands:
  signup   create an account      --server URL --username U [--email E] (--password-stdin | --generate-password)
  login    log in, print a token  --server URL --username U --password-stdin [--totp-stdin]
  whoami   show who a token is    --server URL --token T
  refresh  get a fresh token      --server URL --token T
  logout   revoke a token         --server URL --token T [--all]
  passwd   change the password    --server URL --token T [--password-stdin] [--keep-sessions] [--code C | --totp-stdin]
  sessions list live sessions     --server URL --token T [--revoke ID]
  email    change the email       --server URL --token T --email E [--password-stdin] [--code C | --totp-stdin]
  delete   delete the account     --server URL --token T [--password-stdin] [--yes] [--code C | --totp-stdin]
  mfa enable          start two-factor authentication: print the otpauth:// URI and secret
                      --server URL --token T [--password-stdin]
  mfa confirm         turn it on with a code from the app; print the recovery codes
                      --server URL --token T --code C
  mfa disable         turn it off   --server URL --token T [--password-stdin] [--code C]
  mfa recovery-codes  new recovery codes (the old ones stop working)
                      --server URL --token T [--password-stdin] [--code C]
  verify-email         type the code mailed to the new address   --server URL (--token T | --username U) --code C
  resend-verification  mail a fresh verification code           --server URL --token T
  forgot-password      mail a password reset code                --server URL --login USERNAME-OR-EMAIL
  reset-password       set a new password with the mailed code   --server URL --login L --code C [--password-stdin]

Passwords are read from the terminal without echo, or with
--password-stdin from stdin, one per line (passwd: the current password,
then the new one; after the token when --token-stdin is given too).
With a second factor on, login --totp-stdin reads the code (or a
recovery code) from the line after the password; mfa disable and
recovery-codes read the code from the next line of stdin unless --code
is given; passwd, email and delete need the code too: --code C, or
--totp-stdin to read it from the line after the password(s) (asked for
on the terminal when neither is given).

common flags:
  --json                  machine-readable output
  --known-servers FILE    pinned server identities (default: <config dir>/accountd/known_servers)
  --device-tokens FILE    this device's tokens, presented at login so that strangers'
                          wrong guesses cannot lock you out (default: <config dir>/accountd/device_tokens)
  --trust-on-first-use    pin an unknown server's identity without asking
  --timeout D             give up after D (default 30s)
  --ca-file FILE          trust these CAs for a wss:// server instead of the system's

Run 'account <command> -h' for a command's flags.
`

// reauthFlags are the second factor's flags of passwd, email and delete.
func (o *options) reauthFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.code, "code", "", "with a second factor on: a code from the app, or a recovery code")
	fs.BoolVar(&o.totpStdin, "totp-stdin", false, "with a second factor on, read the code (or a recovery code) from the line after the password(s)")
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Run is the whole program; main only wires the process to it.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if wantsMenu(args) {
		return runMenu(ctx, args, stdin, stdout, stderr)
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		return exitOK
	}
	cmd, args := args[0], args[1:]
	var sub string
	if cmd == "mfa" {
		const choices = "enable, confirm, disable or recovery-codes"
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return report(stderr, usageError{"account mfa: give a subcommand: " + choices})
		}
		switch sub, args = args[0], args[1:]; sub {
		case "enable", "confirm", "disable", "recovery-codes":
		default:
			return report(stderr, usageError{fmt.Sprintf("account mfa: unknown subcommand %q (want %s)", sub, choices)})
		}
		cmd = "mfa " + sub
	}
	fs := flag.NewFlagSet("account "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.server, "server", os.Getenv("ACCOUNTD_SERVER"), "server address (host:port or ws://host:port/ws); env ACCOUNTD_SERVER")
	fs.BoolVar(&o.json, "json", false, "machine-readable JSON output")
	fs.StringVar(&o.knownServers, "known-servers", "", "known-servers file (default <config dir>/accountd/known_servers)")
	fs.StringVar(&o.deviceTokens, "device-tokens", "", "device token file (default <config dir>/accountd/device_tokens)")
	fs.BoolVar(&o.tofu, "trust-on-first-use", false, "pin an unknown server's identity without asking")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up after this long")
	fs.StringVar(&o.caFile, "ca-file", os.Getenv("ACCOUNTD_CA_FILE"), "PEM certificates a wss:// server's TLS certificate must chain to, instead of the system's (env ACCOUNTD_CA_FILE)")
	switch cmd {
	case "signup":
		fs.StringVar(&o.username, "username", "", "username (3-32 of a-z 0-9 . _ -)")
		fs.StringVar(&o.email, "email", "", "email address (optional)")
		fs.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
		fs.BoolVar(&o.generate, "generate-password", false, "let the server generate a strong password (printed once)")
	case "login":
		fs.StringVar(&o.username, "username", "", "username")
		fs.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
		fs.BoolVar(&o.totpStdin, "totp-stdin", false, "with a second factor on, read the code (or a recovery code) from the line after the password")
	case "verify-email":
		fs.StringVar(&o.token, "token", os.Getenv("ACCOUNTD_TOKEN"), "session token; env ACCOUNTD_TOKEN")
		fs.BoolVar(&o.tokenStdin, "token-stdin", false, "read the token from the first line of stdin")
		fs.StringVar(&o.username, "username", "", "the account, when it cannot log in before its email is verified (instead of a token)")
		fs.StringVar(&o.code, "code", "", "the code mailed to the address")
	case "forgot-password":
		fs.StringVar(&o.loginName, "login", "", "username or verified email")
	case "reset-password":
		fs.StringVar(&o.loginName, "login", "", "username or verified email, as given to forgot-password")
		fs.StringVar(&o.code, "code", "", "the code mailed to the address")
		fs.BoolVar(&o.passwordStdin, "password-stdin", false, "read the new password from stdin")
	case "whoami", "refresh", "logout", "passwd", "sessions", "email", "delete", "resend-verification",
		"mfa enable", "mfa confirm", "mfa disable", "mfa recovery-codes":
		fs.StringVar(&o.token, "token", os.Getenv("ACCOUNTD_TOKEN"), "session token; env ACCOUNTD_TOKEN (visible to other local users in the process list: prefer --token-stdin or the env)")
		fs.BoolVar(&o.tokenStdin, "token-stdin", false, "read the token from the first line of stdin")
		switch cmd {
		case "logout":
			fs.BoolVar(&o.all, "all", false, "end every session of the account, this one included")
		case "passwd":
			fs.BoolVar(&o.passwordStdin, "password-stdin", false, "read the current, then the new password from stdin, one per line")
			fs.BoolVar(&o.keepSessions, "keep-sessions", false, "keep the account's other sessions (by default they end)")
			o.reauthFlags(fs)
		case "sessions":
			fs.StringVar(&o.revoke, "revoke", "", "end the session with this id")
		case "email":
			fs.StringVar(&o.email, "email", "", "the new email address")
			fs.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from stdin")
			o.reauthFlags(fs)
		case "delete":
			fs.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from stdin")
			fs.BoolVar(&o.yes, "yes", false, "do not ask to type the username to confirm")
			o.reauthFlags(fs)
		case "mfa enable":
			fs.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from stdin")
		case "mfa confirm":
			fs.StringVar(&o.code, "code", "", "the code the authenticator app shows")
		case "mfa disable", "mfa recovery-codes":
			fs.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from stdin")
			fs.StringVar(&o.code, "code", "", "a code from the app, or a recovery code (default: the next line of stdin)")
		}
	default:
		fmt.Fprintf(stderr, "account: error: unknown command %q\n%s", cmd, usage)
		return exitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		return report(stderr, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))})
	}
	o.stdin, o.stdout, o.stderr = stdin, stdout, stderr
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var err error
	switch cmd {
	case "signup":
		err = o.signup(ctx)
	case "login":
		err = o.login(ctx)
	case "whoami":
		err = o.whoami(ctx)
	case "refresh":
		err = o.refresh(ctx)
	case "logout":
		err = o.logout(ctx)
	case "passwd":
		err = o.passwd(ctx)
	case "sessions":
		err = o.sessions(ctx)
	case "email":
		err = o.changeEmail(ctx)
	case "delete":
		err = o.deleteAccount(ctx)
	case "mfa enable":
		err = o.mfaEnable(ctx)
	case "mfa confirm":
		err = o.mfaConfirm(ctx)
	case "mfa disable":
		err = o.mfaDisable(ctx)
	case "mfa recovery-codes":
		err = o.mfaRecoveryCodes(ctx)
	case "verify-email":
		err = o.verifyEmail(ctx)
	case "resend-verification":
		err = o.resendVerification(ctx)
	case "forgot-password":
		err = o.forgotPassword(ctx)
	case "reset-password":
		err = o.resetPassword(ctx)
	}
	return report(stderr, err)
}

// report prints err the way the CLI prints errors and returns the exit code.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	var mismatch *client.KeyMismatchError
	var impostor *client.ImpersonationError
	var insecure *client.InsecureFileError
	var se *client.ServerError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "account: error: %s\nhint: run 'account -h' for usage\n", ue.msg)
		return exitUsage
	case errors.As(err, &mismatch):
		fmt.Fprintf(stderr, "account: error: the identity of %s has changed: possible man-in-the-middle attack\n", mismatch.Server)
		fmt.Fprintf(stderr, "  pinned:    %s\n  presented: %s\n", mismatch.Pinned, mismatch.Presented)
		if mismatch.File != "" {
			fmt.Fprintf(stderr, "hint: if the server was set up again on purpose, remove line %d of %s\n", mismatch.Line, mismatch.File)
		}
		return exitConn
	case errors.As(err, &impostor):
		fmt.Fprintf(stderr, "account: error: %s claimed the pinned identity %s but could not prove it: possible man-in-the-middle attack\n", impostor.Server, impostor.Fingerprint)
		fmt.Fprintln(stderr, "hint: no request or password was sent; ask the server's operator to check the server and the network path")
		return exitConn
	case errors.As(err, &insecure):
		fmt.Fprintf(stderr, "account: error: %s\nhint: %s\n", strings.TrimPrefix(insecure.Error(), "client: "), insecure.Fix)
		return exitConn
	case errors.Is(err, client.ErrUnknownServer):
		fmt.Fprintf(stderr, "account: error: %s\nhint: check the fingerprint with the server's operator, then pass --trust-on-first-use\n", strings.TrimPrefix(err.Error(), "client: "))
		return exitConn
	case errors.As(err, &se):
		fmt.Fprintf(stderr, "account: error: %s\n", client.Printable(se.Message))
		if se.RetryAfter > 0 {
			fmt.Fprintf(stderr, "hint: try again in %s\n", se.RetryAfter.Round(time.Millisecond))
		}
		return exitRefused
	case errors.Is(err, client.ErrServerShuttingDown):
		fmt.Fprintln(stderr, "account: error: the server is shutting down\nhint: try again when it is back")
		return exitConn
	case errors.Is(err, client.ErrConnection), errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(stderr, "account: error: %s\nhint: is the server running at that address?\n", client.Printable(strings.TrimPrefix(err.Error(), "client: ")))
		return exitConn
	default:
		fmt.Fprintf(stderr, "account: error: %s\n", client.Printable(strings.TrimPrefix(err.Error(), "client: ")))
		return exitConn
	}
}

type options struct {
	server, knownServers string
	deviceTokens         string
	json, tofu           bool
	timeout              time.Duration
	username, email      string
	passwordStdin        bool
	totpStdin            bool
	code                 string
	generate             bool
	token                string
	tokenStdin           bool
	caFile               string
	all, keepSessions    bool
	yes                  bool
	revoke               string
	loginName            string
	stdin                io.Reader
	stdout, stderr       io.Writer
	lines                *bufio.Reader // stdin, read line by line
}

func (o *options) dial(ctx context.Context) (*client.Conn, error) {
	if o.server == "" {
		return nil, usageError{"--server is required"}
	}
	path := o.knownServers
	if path == "" {
		var err error
		if path, err = client.DefaultKnownServersPath(); err != nil {
			return nil, fmt.Errorf("find config dir: %w (pass --known-servers)", err)
		}
	}
	devices := o.deviceTokens
	if devices == "" {
		var err error
		if devices, err = client.DefaultDeviceTokensPath(); err != nil {
			return nil, fmt.Errorf("find config dir: %w (pass --device-tokens)", err)
		}
	}
	opts := client.Options{
		Trust:           client.NewKnownServers(path),
		TrustOnFirstUse: o.tofu,
		DeviceTokens:    client.NewDeviceTokenFile(devices),
		IdentityRotated: func(server, previous, current string) {
			fmt.Fprintf(o.stderr, "account: %s: server identity key rotated: %s -> %s, pinned the new one\n",
				client.Printable(server), client.Printable(previous), client.Printable(current))
		},
	}
	if o.caFile != "" {
		var err error
		if opts.RootCAs, err = client.LoadCAFile(o.caFile); err != nil {
			return nil, err
		}
	}
	return client.Dial(ctx, o.server, opts)
}

// readLine reads the next line of stdin, without its line ending.
func (o *options) readLine(what string) (string, error) {
	if o.lines == nil {
		o.lines = bufio.NewReaderSize(o.stdin, 4096)
	}
	line, err := o.lines.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s from stdin: %w", what, err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", usageError{"no " + what + " on stdin"}
	}
	return line, nil
}

// print writes v as JSON with --json, else the human line, whose
// server-supplied parts the caller passed through client.Printable. The
// JSON escapes what could drive a terminal (client.EscapeJSON).
func (o *options) print(v any, human string) error {
	if o.json {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = o.stdout.Write(append(client.EscapeJSON(b), '\n'))
		return err
	}
	_, err := fmt.Fprintln(o.stdout, human)
	return err
}

func (o *options) signup(ctx context.Context) error {
	if o.username == "" {
		return usageError{"--username is required"}
	}
	if o.passwordStdin == o.generate {
		return usageError{"give exactly one of --password-stdin and --generate-password"}
	}
	var password string
	if o.passwordStdin {
		var err error
		if password, err = o.readLine("password"); err != nil {
			return err
		}
	}
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.Signup(ctx, o.username, password, o.email)
	if err != nil {
		return err
	}
	human := fmt.Sprintf("created account %s (id %s)", client.Printable(r.Account.Username), client.Printable(r.Account.ID))
	if r.GeneratedPassword != "" {
		human += "\npassword (shown once, keep it safe): " + client.Printable(r.GeneratedPassword)
	}
	return o.print(r, human)
}

func (o *options) login(ctx context.Context) error {
	if o.username == "" {
		return usageError{"--username is required"}
	}
	if !o.passwordStdin {
		return usageError{"--password-stdin is required (the password is never taken from the command line)"}
	}
	password, err := o.readLine("password")
	if err != nil {
		return err
	}
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	t, err := c.LoginWith(ctx, client.LoginRequest{Username: o.username, Password: password, Client: clientDescription})
	var sf *client.SecondFactorRequired
	if errors.As(err, &sf) {
		t, err = o.secondFactor(ctx, c, sf)
	}
	var kept *client.DeviceTokenError
	if errors.As(err, &kept) && t != nil {
		// Logged in all the same: say so, and print the token.
		fmt.Fprintln(o.stderr, "account: warning: "+client.Printable(kept.Err.Error()))
		err = nil
	}
	if err != nil {
		return err
	}
	shown := *t
	shown.DeviceToken = "" // kept in the device token file, not for output
	return o.print(&shown, client.Printable(t.Token))
}

func (o *options) tokenArg() (string, error) {
	if o.tokenStdin {
		return o.readLine("token")
	}
	if o.token == "" {
		return "", usageError{"--token (or --token-stdin, or ACCOUNTD_TOKEN) is required"}
	}
	return o.token, nil
}

// withToken reads the token argument, dials, and runs f on the connection.
func (o *options) withToken(ctx context.Context, f func(c *client.Conn, tok string) error) error {
	tok, err := o.tokenArg()
	if err != nil {
		return err
	}
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return f(c, tok)
}

func (o *options) whoami(ctx context.Context) error {
	return o.withToken(ctx, func(c *client.Conn, tok string) error {
		id, err := c.Authenticate(ctx, tok)
		if err != nil {
			return err
		}
		human := fmt.Sprintf("%s (id %s), session %s until %s", client.Printable(id.Account.Username), client.Printable(id.Account.ID),
			client.Printable(id.Session.ID), id.Session.ExpiresAt.Local().Format(time.RFC1123))
		return o.print(id, human)
	})
}

func (o *options) refresh(ctx context.Context) error {
	return o.withToken(ctx, func(c *client.Conn, tok string) error {
		t, err := c.Refresh(ctx, tok)
		if err != nil {
			return err
		}
		return o.print(t, client.Printable(t.Token))
	})
}

func (o *options) logout(ctx context.Context) error {
	if o.all {
		return o.withToken(ctx, func(c *client.Conn, tok string) error {
			n, err := c.LogoutAll(ctx, tok, false)
			if err != nil {
				return err
			}
			forgetSavedSession(c.Server(), tok)
			return o.print(map[string]int{"sessions_ended": n}, fmt.Sprintf("logged out everywhere: %d sessions ended", n))
		})
	}
	return o.withToken(ctx, func(c *client.Conn, tok string) error {
		if err := c.Logout(ctx, tok); err != nil {
			return err
		}
		forgetSavedSession(c.Server(), tok)
		return o.print(map[string]bool{"logged_out": true}, "logged out")
	})
}
