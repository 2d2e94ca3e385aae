// Package wizard is accountd's interactive first run: a few huh forms that
// ask for the data folder, the admin password, the database (an embedded
// SQLite file, or a MariaDB/MySQL server, tested live) and the listen
// address, and then call setup.Run.
//
// Every answer is checked as it is given; a database that does not accept
// the answers sends the user back to the database form with the reason and
// the field to fix. Nothing is written before the last question is
// answered, and setup.Run writes the sealed config last and atomically, so
// cancelling (Ctrl-C, end of input) at any point leaves nothing
// behind.
//
// Run works in a terminal (huh's full-screen forms) and in huh's accessible
// mode (plain prompts, one per line), which also takes scripted input.
// Run is not safe for concurrent use with the same Options.In.
package wizard

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/charmbracelet/huh"
	"golang.org/x/term"

	"github.com/accountd/accountd/setup"
)

// ErrAborted is returned by Run when the user cancels (Ctrl-C, a "no"
// to the last question) or the input ends before the setup is complete.
// Nothing has been written then.
var ErrAborted = errors.New("wizard: setup cancelled; nothing was written")

// Options configure Run.
type Options struct {
	// In and Out are the terminal; default os.Stdin and os.Stdout.
	In  io.Reader
	Out io.Writer
	// Accessible asks with plain prompts, one per line, instead of
	// full-screen forms: for screen readers and for scripted input.
	Accessible bool
	// DataDir is the proposed data folder. Required.
	DataDir string
	// Driver is the proposed database, setup.DriverSQLite (default) or
	// setup.DriverMySQL.
	Driver string
	// Listen is the proposed listen address. Default setup.DefaultListen.
	Listen string
	// MySQL are the proposed MariaDB/MySQL answers; zero fields take
	// 127.0.0.1, 3306, user "accountd", database "accountd".
	MySQL setup.MySQLServer
	// Remembered is the data folder that plain `accountd` opens now
	// (setup.RememberedDataDir), when it holds a config; "" when none.
	// Setting up elsewhere asks whether the new setup replaces it there.
	Remembered string
	// Server are the settings to seal, given beforehand (flags,
	// environment); the wizard does not ask for them.
	Server setup.ServerSettings
	// KDF are the sealing parameters; zero means setup.DefaultKDFParams.
	// Only tests set them.
	KDF setup.KDFParams
}

// Result is what the first run made.
type Result struct {
	// Config is the sealed config's content. It holds secrets.
	Config *setup.Config
	// DataDir is the absolute path of the data folder.
	DataDir string
	// Remember is true when DataDir should become the folder plain
	// `accountd` opens: there was none, or the user chose to replace it.
	Remember bool
}

// wizard holds the answers while the forms run.
type wizard struct {
	o        Options
	in       io.Reader
	eof      *eofReader // nil unless In is wrapped
	secret   huh.EchoMode
	dataDir  string
	password string
	confirm  string
	driver   string
	mysql    setup.MySQLServer
	port     string
	listen   string
	// origins is the allowed-origins answer, as typed.
	origins string
	// smtp holds the mail answers, each as typed.
	smtp    struct{ host, port, tls, username, password, from string }
	proceed bool
	// remember: the new setup becomes the remembered one.
	remember bool
}

// Run asks the first-run questions and sets accountd up. It returns
// ErrAborted when the user cancels.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.DataDir == "" {
		return nil, errors.New("wizard: no proposed data folder")
	}
	o.In = cmp.Or[io.Reader](o.In, os.Stdin)
	o.Out = cmp.Or[io.Writer](o.Out, os.Stdout)
	o.Listen = cmp.Or(o.Listen, setup.DefaultListen)
	o.MySQL.Host = cmp.Or(o.MySQL.Host, "127.0.0.1")
	o.MySQL.Port = cmp.Or(o.MySQL.Port, 3306)
	o.MySQL.User = cmp.Or(o.MySQL.User, "accountd")
	o.MySQL.Name = cmp.Or(o.MySQL.Name, "accountd")

	w := &wizard{
		o:        o,
		in:       o.In,
		secret:   huh.EchoModePassword,
		dataDir:  o.DataDir,
		driver:   setup.DriverSQLite,
		mysql:    o.MySQL,
		port:     strconv.Itoa(o.MySQL.Port),
		listen:   o.Listen,
		proceed:  true,
		remember: true,
	}
	if o.Driver == setup.DriverMySQL {
		w.driver = setup.DriverMySQL
	}
	if o.Accessible {
		f, isFile := o.In.(*os.File)
		if !isFile || !term.IsTerminal(int(f.Fd())) {
			// Scripted input: huh reads each answer with a new buffered
			// scanner, so hand it one line at a time; and a password
			// read from a pipe is not echoed anyway (huh's no-echo
			// prompt needs a terminal).
			w.eof = &eofReader{r: o.In}
			w.in = w.eof
			w.secret = huh.EchoModeNormal
		}
	}

	steps := []func(context.Context) error{w.askDataDir, w.askReplace, w.askPassword, w.askDatabase, w.askListen, w.askOrigins, w.askMail, w.askProceed}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	opts := setup.Options{
		DataDir:       w.dataDir,
		Driver:        w.driver,
		Listen:        w.listen,
		AdminPassword: []byte(w.password),
		Server:        w.o.Server,
		KDF:           o.KDF,
	}
	if w.driver == setup.DriverMySQL {
		opts.DSN = w.mysql.DSN()
	}
	fmt.Fprintln(o.Out, "Setting up: deriving the sealing key, creating the database and tables...")
	cfg, err := setup.Run(ctx, opts)
	clear(opts.AdminPassword)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%w)", ErrAborted, err)
		}
		return nil, err
	}
	abs, err := filepath.Abs(w.dataDir)
	if err != nil {
		return nil, err
	}
	return &Result{Config: cfg, DataDir: abs, Remember: w.remember}, nil
}

// run shows one form and maps huh's ways of stopping to ErrAborted.
func (w *wizard) run(ctx context.Context, groups ...*huh.Group) error {
	f := huh.NewForm(groups...).
		WithAccessible(w.o.Accessible).
		WithInput(w.in).
		WithOutput(w.o.Out).
		WithShowHelp(true)
	if !w.o.Accessible {
		err := f.RunWithContext(ctx)
		switch {
		case ctx.Err() != nil, errors.Is(err, huh.ErrUserAborted), errors.Is(err, huh.ErrTimeout):
			return ErrAborted
		case err != nil:
			return fmt.Errorf("wizard: %w", err)
		}
		return nil
	}
	// Accessible prompts block on a read that no context can interrupt:
	// run them aside so that Ctrl-C (the context) still ends the wizard.
	// A password prompt turns the terminal's echo off while it reads;
	// put it back if Ctrl-C ends the wizard in the middle.
	var restore func()
	if file, ok := w.in.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
		if state, err := term.GetState(int(file.Fd())); err == nil {
			restore = func() { term.Restore(int(file.Fd()), state) }
		}
	}
	done := make(chan error, 1)
	go func() { done <- f.RunWithContext(ctx) }()
	select {
	case <-ctx.Done():
		if restore != nil {
			restore()
			fmt.Fprintln(w.o.Out)
		}
		return ErrAborted
	case err := <-done:
		if err != nil {
			return fmt.Errorf("wizard: %w", err)
		}
	}
	if w.eof != nil && w.eof.ended {
		return ErrAborted
	}
	return nil
}

// expandPath turns "~/x" into the home folder's x and trims spaces.
func expandPath(s string) string {
	s = strings.TrimSpace(s)
	if s == "~" || strings.HasPrefix(s, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, s[1:])
		}
	}
	return s
}

func (w *wizard) askDataDir(ctx context.Context) error {
	def := w.dataDir
	err := w.run(ctx, huh.NewGroup(
		huh.NewNote().
			Title("accountd first run").
			Description("A few questions, then accountd creates its database and a config file sealed\n"+
				"by an admin password. Nothing is written until the last answer.\n"+
				"Ctrl-C cancels."),
		huh.NewInput().
			Title(w.title("Data folder", def)).
			Description("Holds the sealed config (and the SQLite database). Created with mode 0700.\n"+
				"Empty keeps "+def).
			Value(&w.dataDir).
			Validate(func(s string) error {
				return setup.CheckDataDir(expandPath(cmp.Or(s, def)))
			}),
	))
	if err != nil {
		return err // the answers may still be written to: leave them
	}
	w.dataDir = expandPath(cmp.Or(w.dataDir, def))
	return nil
}

// askReplace asks, when another setup is the remembered one, whether the
// new one takes its place; the default keeps it.
func (w *wizard) askReplace(ctx context.Context) error {
	old := w.o.Remembered
	abs, err := filepath.Abs(w.dataDir)
	if old == "" || err != nil || abs == filepath.Clean(old) {
		return nil
	}
	w.remember = false
	return w.run(ctx, huh.NewGroup(
		huh.NewConfirm().
			Title(fmt.Sprintf("accountd is already set up in %s. Should commands without --data-dir open the new setup instead?", old)).
			Description(fmt.Sprintf("Replace: they open %s from now on (the old setup stays on disk).\n"+
				"Keep: they keep opening %s; start the new one with --data-dir.", abs, old)).
			Affirmative("Replace").
			Negative("Keep").
			Value(&w.remember),
	))
}

func (w *wizard) askPassword(ctx context.Context) error {
	err := w.run(ctx, huh.NewGroup(
		huh.NewInput().
			Title("Admin password").
			Description(fmt.Sprintf("Unlocks the server at every start and seals its config. At least %d characters.\n"+
				"It cannot be recovered: keep it in a password manager.", setup.MinAdminPasswordLength)).
			EchoMode(w.secret).
			Value(&w.password).
			Validate(func(s string) error { return trimPrefix(setup.CheckAdminPassword([]byte(s))) }),
		huh.NewInput().
			Title("Admin password again").
			EchoMode(w.secret).
			Value(&w.confirm).
			Validate(func(s string) error {
				if s != w.password {
					return errors.New("the two passwords differ")
				}
				return nil
			}),
	))
	if err != nil {
		return err
	}
	w.confirm = ""
	return nil
}

func (w *wizard) askDatabase(ctx context.Context) error {
	err := w.run(ctx, huh.NewGroup(
		huh.NewSelect[string]().
			Title("Where should the accounts live?").
			Options(
				huh.NewOption("Embedded SQLite file in the data folder (simplest; one server)", setup.DriverSQLite),
				huh.NewOption("MariaDB or MySQL server (several servers, backups, replication)", setup.DriverMySQL),
			).
			Value(&w.driver),
	))
	if err != nil || w.driver != setup.DriverMySQL {
		return err
	}
	problem := ""
	for {
		if err := w.askMySQL(ctx, problem); err != nil {
			return err
		}
		fmt.Fprintf(w.o.Out, "Testing the connection to %s:%d...\n", w.mysql.Host, w.mysql.Port)
		exists, err := setup.CheckMySQL(ctx, w.mysql)
		if ctx.Err() != nil {
			return ErrAborted
		}
		if err == nil {
			if exists {
				fmt.Fprintf(w.o.Out, "Connected. Database %s exists; accountd will create its tables in it.\n", w.mysql.Name)
			} else {
				fmt.Fprintf(w.o.Out, "Connected. Database %s does not exist yet; accountd will create it.\n", w.mysql.Name)
			}
			return nil
		}
		problem = describe(err)
	}
}

// describe says which answer to fix and why.
func describe(err error) string {
	var fe *setup.FieldError
	if errors.As(err, &fe) {
		return "Check the " + fe.Field + ": " + fe.Err.Error()
	}
	return err.Error()
}

func (w *wizard) askMySQL(ctx context.Context, problem string) error {
	title := "MariaDB/MySQL server"
	desc := "accountd tests the connection when you submit this form."
	if problem != "" {
		desc = "✗ " + problem + "\nFix the answer and submit again, or press Ctrl-C to cancel."
	}
	defs := w.mysql
	err := w.run(ctx, huh.NewGroup(
		huh.NewNote().Title(title).Description(desc),
		huh.NewInput().Title(w.title("Host", defs.Host)).Value(&w.mysql.Host).
			Validate(func(s string) error { return setup.ValidateHost(strings.TrimSpace(cmp.Or(s, defs.Host))) }),
		huh.NewInput().Title(w.title("Port", strconv.Itoa(defs.Port))).Value(&w.port).
			Validate(func(s string) error {
				_, err := setup.ParsePort(cmp.Or(s, strconv.Itoa(defs.Port)))
				return err
			}),
		huh.NewInput().Title(w.title("User", defs.User)).Value(&w.mysql.User).
			Validate(func(s string) error {
				if strings.TrimSpace(cmp.Or(s, defs.User)) == "" {
					return errors.New("the user is empty")
				}
				return nil
			}),
		huh.NewInput().Title("Password").Description("The database user's password (empty if it has none).").
			EchoMode(w.secret).Value(&w.mysql.Password),
		huh.NewInput().Title(w.title("Database name", defs.Name)).Description("Created if it does not exist.").Value(&w.mysql.Name).
			Validate(func(s string) error {
				m := defs
				m.Name = strings.TrimSpace(cmp.Or(s, defs.Name))
				return trimPrefix(fieldOnly(m.Validate(), setup.FieldDatabase))
			}),
	))
	if err != nil {
		return err
	}
	w.mysql.Host = strings.TrimSpace(cmp.Or(w.mysql.Host, defs.Host))
	w.mysql.User = strings.TrimSpace(cmp.Or(w.mysql.User, defs.User))
	w.mysql.Name = strings.TrimSpace(cmp.Or(w.mysql.Name, defs.Name))
	w.mysql.Port, _ = setup.ParsePort(cmp.Or(w.port, strconv.Itoa(defs.Port)))
	if w.mysql.Port == 0 {
		w.mysql.Port = defs.Port
	}
	return nil
}

// fieldOnly keeps err when it is about field.
func fieldOnly(err error, field string) error {
	var fe *setup.FieldError
	if errors.As(err, &fe) && fe.Field == field {
		return fe.Err
	}
	return nil
}

func (w *wizard) askListen(ctx context.Context) error {
	def := w.listen
	err := w.run(ctx, huh.NewGroup(
		huh.NewInput().
			Title(w.title("Listen address", def)).
			Description("host:port the server accepts clients on. 127.0.0.1 is this machine only;\n"+
				"0.0.0.0 is every network interface. Empty keeps "+def).
			Value(&w.listen).
			Validate(func(s string) error {
				return trimPrefix(setup.CheckListenFree(strings.TrimSpace(cmp.Or(s, def))))
			}),
	))
	if err != nil {
		return err
	}
	w.listen = strings.TrimSpace(cmp.Or(w.listen, def))
	return nil
}

// askOrigins asks which web pages of other origins may use the server
// from the browser (the allowed_origins setting), optional: without any,
// only the server's own pages (the account console) may. Origins given
// beforehand (flag, environment) are not asked again.
func (w *wizard) askOrigins(ctx context.Context) error {
	if len(w.o.Server.AllowedOrigins) > 0 {
		return nil
	}
	setting, err := setup.LookupSetting("allowed_origins")
	if err != nil {
		return err
	}
	var probe setup.Config
	err = w.run(ctx, huh.NewGroup(
		huh.NewInput().
			Title("Web app origins allowed to connect from the browser (empty: none)").
			Description("Hosts of the web apps whose pages use accountd's JavaScript SDK, comma-separated,\n"+
				"e.g. app.example.com, *.example.com or localhost:3000. The server's own pages need none.\n"+
				"Change it later with 'accountd config set allowed_origins ...'.").
			Value(&w.origins).
			Validate(func(v string) error { return trimPrefix(checkOrigins(setting, &probe, v)) }),
	))
	if err != nil {
		return err
	}
	if err := checkOrigins(setting, &probe, w.origins); err != nil {
		return trimPrefix(err)
	}
	w.o.Server.AllowedOrigins = probe.Server.AllowedOrigins
	return nil
}

// askMail asks for the SMTP server mail goes through, optional: without
// one, email verification, password reset and notices are off. Settings
// given beforehand (flags, environment) are not asked again.
func (w *wizard) askMail(ctx context.Context) error {
	if w.o.Server.SMTPHost != "" {
		return nil
	}
	probe := setup.Config{}
	check := func(key string) func(string) error {
		return func(v string) error {
			s, err := setup.LookupSetting(key)
			if err != nil {
				return err
			}
			return trimPrefix(s.Set(&probe, strings.TrimSpace(v)))
		}
	}
	err := w.run(ctx, huh.NewGroup(
		huh.NewInput().
			Title("SMTP server for mail (empty: no mail)").
			Description("Mail carries email verification codes, password reset codes and notices of\n"+
				"account changes. Without it these are off; turn it on later with\n"+
				"'accountd config set smtp_host ...'.").
			Value(&w.smtp.host).
			Validate(check("smtp_host")),
	))
	if err != nil {
		return err
	}
	w.smtp.host = strings.TrimSpace(w.smtp.host)
	if w.smtp.host == "" {
		fmt.Fprintln(w.o.Out, "Mail is off: no email verification, password reset or notices.")
		return nil
	}
	w.smtp.tls = "starttls"
	err = w.run(ctx, huh.NewGroup(
		huh.NewSelect[string]().
			Title("How should mail reach it?").
			Options(
				huh.NewOption("STARTTLS (port 587)", "starttls"),
				huh.NewOption("Implicit TLS (port 465)", "tls"),
				huh.NewOption("No TLS: a relay on this host or network only", "none"),
			).
			Value(&w.smtp.tls),
		huh.NewInput().Title(w.title("Port", "by the choice above")).Value(&w.smtp.port).Validate(check("smtp_port")),
		huh.NewInput().Title("SMTP username (empty: no login)").Value(&w.smtp.username),
		huh.NewInput().Title("SMTP password (empty: none)").EchoMode(w.secret).Value(&w.smtp.password),
		huh.NewInput().Title("Sender address, e.g. Example <accounts@example.com>").Value(&w.smtp.from).
			Validate(func(v string) error {
				if strings.TrimSpace(v) == "" {
					return errors.New("a sender address is required with an SMTP server")
				}
				return check("smtp_from")(v)
			}),
	))
	if err != nil {
		return err
	}
	srv := &w.o.Server
	srv.SMTPHost, srv.SMTPTLS, srv.SMTPUsername = w.smtp.host, w.smtp.tls, strings.TrimSpace(w.smtp.username)
	srv.SMTPPassword, srv.SMTPFrom = w.smtp.password, strings.TrimSpace(w.smtp.from)
	if p := strings.TrimSpace(w.smtp.port); p != "" {
		srv.SMTPPort, _ = strconv.Atoi(p)
	}
	w.smtp.password = ""
	return nil
}

// checkOrigins parses an allowed-origins answer into probe with the
// setting's own parser and checks it as the sealed config will.
func checkOrigins(setting setup.Setting, probe *setup.Config, answer string) error {
	if err := setting.Set(probe, strings.TrimSpace(answer)); err != nil {
		return err
	}
	return probe.Server.Validate()
}

// originsSummary says which pages may connect, for the last question.
func (w *wizard) originsSummary() string {
	if len(w.o.Server.AllowedOrigins) == 0 {
		return "the server's own pages only"
	}
	return strings.Join(w.o.Server.AllowedOrigins, ", ")
}

func (w *wizard) askProceed(ctx context.Context) error {
	store := "embedded SQLite file " + filepath.Join(w.dataDir, setup.SQLiteFileName)
	if w.driver == setup.DriverMySQL {
		store = fmt.Sprintf("MariaDB/MySQL database %s on %s:%d as %s", w.mysql.Name, w.mysql.Host, w.mysql.Port, w.mysql.User)
	}
	err := w.run(ctx, huh.NewGroup(
		huh.NewConfirm().
			Title("Set up accountd now?").
			Description(fmt.Sprintf("Data folder: %s\nAccounts:    %s\nListen on:   %s\nOrigins:     %s\nMail:        %s", w.dataDir, store, w.listen, w.originsSummary(), w.mailSummary())).
			Affirmative("Set up").
			Negative("Cancel").
			Value(&w.proceed),
	))
	if err != nil {
		return err
	}
	if !w.proceed {
		return ErrAborted
	}
	return nil
}

func (w *wizard) mailSummary() string {
	if w.o.Server.SMTPHost == "" {
		return "off"
	}
	return "via " + w.o.Server.SMTPHost
}

// title shows the default beside the question in accessible mode, where
// huh shows neither the description nor the prefilled value.
func (w *wizard) title(q, def string) string {
	if w.o.Accessible && def != "" {
		return q + " [" + def + "]"
	}
	return q
}

// trimPrefix drops the "setup: " package prefix from errors shown beside
// a field, where it would be noise.
func trimPrefix(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(strings.TrimPrefix(err.Error(), "setup: "))
}

// eofReader hands out at most one line per Read, so that each of huh's
// per-question scanners consumes exactly one answer, and remembers when
// it had to answer io.EOF: an answer was asked for after the input ended.
type eofReader struct {
	r       io.Reader
	buf     []byte
	srcDone bool
	ended   bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	for !bytes.Contains(e.buf, []byte("\n")) && !e.srcDone {
		chunk := make([]byte, 512)
		n, err := e.r.Read(chunk)
		e.buf = append(e.buf, chunk[:n]...)
		if err != nil {
			e.srcDone = true
		}
	}
	if len(e.buf) == 0 {
		e.ended = true
		return 0, io.EOF
	}
	line := e.buf
	if i := bytes.IndexByte(e.buf, '\n'); i >= 0 {
		line = e.buf[:i+1]
	}
	n := copy(p, line)
	e.buf = e.buf[n:]
	return n, nil
}
