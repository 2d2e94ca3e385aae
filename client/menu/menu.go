// Package menu is accountd's interactive terminal client: a menu built on
// charmbracelet/huh over the client SDK (sign up, log in, who am I,
// refresh the session, log out). It asks before trusting a server it has
// never seen, shows a spinner while the network works, redials when the
// connection drops, and speaks the server's refusals in plain words.
//
// Without a terminal it runs in huh's accessible mode: numbered choices
// and one prompt per line, readable by screen readers and scripts.
//
// Run is the whole menu. It is not safe for concurrent use.
package menu

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"golang.org/x/term"

	"github.com/accountd/accountd/client"
)

// Errors Run returns when it stops without the user choosing Quit.
var (
	// ErrNotTrusted: the user declined to trust a new server's identity.
	ErrNotTrusted = errors.New("menu: server not trusted")
	// ErrInputEnded: in accessible mode, the input ended before Quit.
	ErrInputEnded = errors.New("menu: input ended")
)

// Options configure Run.
type Options struct {
	// Server is the address (host:port, http(s)://... or ws(s)://...).
	// Empty: the menu asks for it.
	Server string
	// Trust holds pinned server identities. Required. A new server's
	// fingerprint is shown and pinned only if the user says so.
	Trust client.TrustStore
	// CAFile, when set, holds the certificate authorities a wss://
	// server must chain to instead of the system's (client.LoadCAFile).
	CAFile string
	// ClientKey is passed to the SDK (nil: a 3072-bit key per process).
	ClientKey *rsa.PrivateKey
	// DeviceTokens keeps the device tokens of completed logins and
	// presents them at the next login (client.Options.DeviceTokens), so
	// that strangers' wrong guesses cannot lock this device out. Nil:
	// kept in memory while the menu runs.
	DeviceTokens client.DeviceTokens
	// Sessions, when set, keeps the session token across runs (the
	// --remember option): a saved session is resumed at start, and
	// logging out removes it. Nil: the session ends when the menu quits.
	Sessions *SavedSessions
	// Accessible runs huh's accessible mode: plain numbered prompts, no
	// cursor movement, no colours. Use it when In or Out is not a
	// terminal. When Out is not a terminal it sets lipgloss's default
	// colour profile to plain text for the rest of the process.
	Accessible bool
	// In and Out are the terminal. Default os.Stdin and os.Stdout.
	In  io.Reader
	Out io.Writer
	// Timeout bounds each network operation. Default 30 s.
	Timeout time.Duration
	// MinPasswordLength is the shortest password the password forms
	// accept when the server does not announce its own minimum (the
	// policy operation, asked at connect; the server has the final word
	// either way). Default 8, the lowest minimum a server may set.
	MinPasswordLength int
}

// Run shows the menu until the user quits (nil: Quit, Ctrl-C, or Esc in
// the main menu), ctx ends (nil), or something stops it for good: a server whose
// identity changed (*client.KeyMismatchError) or that could not prove its
// identity (*client.ImpersonationError), an identity the user did
// not trust (ErrNotTrusted), or the end of the input in accessible mode
// (ErrInputEnded).
func Run(ctx context.Context, opts Options) error {
	m, err := newMenu(opts)
	if err != nil {
		return err
	}
	defer m.close()
	return m.run(ctx)
}

// menu is the state of one Run.
type menu struct {
	opts       Options
	in         io.Reader
	out        io.Writer
	lines      *lineReader // the input in accessible mode, when it is not a terminal
	accessible bool
	secretEcho huh.EchoMode // how password fields echo
	keys       *huh.KeyMap
	style      styles

	cl       *client.Client
	server   string // host:port
	accepted string // fingerprint the user agreed to trust

	// rotations are the identity rotations the SDK reported from
	// within a dial, to show once the spinner is gone.
	rotationsMu sync.Mutex
	rotations   [][2]string

	// minPassword is the server's announced password minimum, or
	// Options.MinPasswordLength when it announced none.
	minPassword int
	// mailOn: the server said it mails codes (policy).
	mailOn bool

	token    *client.Token // nil when logged out
	username string        // last username typed, to prefill forms
	email    string
}

func newMenu(opts Options) (*menu, error) {
	if opts.Trust == nil {
		return nil, errors.New("menu: options: Trust is required")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.MinPasswordLength <= 0 {
		opts.MinPasswordLength = 8
	}
	m := &menu{opts: opts, in: opts.In, out: opts.Out, accessible: opts.Accessible, secretEcho: huh.EchoModePassword, minPassword: opts.MinPasswordLength}
	if m.in == nil {
		m.in = os.Stdin
	}
	if m.out == nil {
		m.out = os.Stdout
	}
	if m.accessible {
		if !isTerminal(m.in) {
			// huh's accessible prompts read each answer through a new
			// bufio.Scanner; serving one line per Read keeps answers
			// from being lost in a discarded buffer. Nothing is echoed
			// from a pipe, and a hidden prompt needs a terminal.
			m.lines = newLineReader(m.in)
			m.in = m.lines
			m.secretEcho = huh.EchoModeNormal
		}
		if !isTerminal(m.out) {
			// Accessible output goes to files and screen readers:
			// no escape sequences at all.
			lipgloss.SetColorProfile(termenv.Ascii)
		}
	}
	m.keys = huh.NewDefaultKeyMap()
	// Esc backs out of a form (in the main menu: quits); Ctrl-C quits
	// from anywhere (formModel).
	m.keys.Quit = key.NewBinding(key.WithKeys("ctrl+c", "esc"), key.WithHelp("esc", "back"))
	m.style = newStyles(m.out)
	return m, nil
}

func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

func (m *menu) close() {
	if m.cl != nil {
		m.cl.Close()
	}
}

// errQuit ends the main loop: the user chose Quit.
var errQuit = errors.New("menu: quit")

func (m *menu) run(ctx context.Context) error {
	if err := m.chooseServer(ctx); err != nil {
		return m.stopped(ctx, err)
	}
	if err := m.connect(ctx); err != nil {
		return m.stopped(ctx, err)
	}
	if err := m.resume(ctx); err != nil {
		return m.stopped(ctx, err)
	}
	for {
		m.showRotations()
		var err error
		if m.token == nil {
			err = m.loggedOut(ctx)
		} else {
			err = m.loggedIn(ctx)
		}
		if errors.Is(err, errQuit) || errors.Is(err, huh.ErrUserAborted) {
			return m.quit(ctx)
		}
		if err != nil {
			return m.stopped(ctx, err)
		}
	}
}

// stopped turns the error that ended the menu into Run's result: the
// user backing out, or the context ending, is a clean exit.
func (m *menu) stopped(ctx context.Context, err error) error {
	if errors.Is(err, errQuit) || errors.Is(err, huh.ErrUserAborted) || ctx.Err() != nil {
		return nil
	}
	return err
}

// form runs f with the menu's mode, keys and streams.
func (m *menu) form(ctx context.Context, groups ...*huh.Group) error {
	f := huh.NewForm(groups...).
		WithAccessible(m.accessible).
		WithKeyMap(m.keys).
		WithShowHelp(true).
		WithInput(m.in).
		WithOutput(m.out)
	if m.accessible {
		err := m.runAccessible(ctx, f)
		if m.lines != nil && m.lines.ended() {
			return ErrInputEnded
		}
		if err == nil && ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	// Form.Run ends a form the user backs out of with tea.Interrupt,
	// which leaves the form drawn on the screen. Quitting instead lets
	// it clear itself, the same as a submitted form.
	f.SubmitCmd, f.CancelCmd = tea.Quit, tea.Quit
	w := &formModel{Form: f}
	_, err := tea.NewProgram(w, tea.WithInput(m.in), tea.WithOutput(m.out), tea.WithContext(ctx)).Run()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case w.interrupted:
		return errQuit
	case errors.Is(err, tea.ErrInterrupted), f.State == huh.StateAborted:
		return huh.ErrUserAborted
	case err != nil:
		return fmt.Errorf("menu: %w", err)
	}
	return nil
}

// runAccessible runs f in accessible mode. huh v1.0.0's accessible
// Select, when the input ends right after an answer out of range, takes
// that answer and indexes out of range; that panic means the input ended.
func (m *menu) runAccessible(ctx context.Context, f *huh.Form) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if m.lines == nil || !m.lines.ended() {
				panic(v)
			}
			err = ErrInputEnded
		}
	}()
	return f.RunWithContext(ctx)
}

// formModel runs a form, except that Ctrl-C leaves the whole menu (Esc
// only backs out of the form).
type formModel struct {
	*huh.Form
	interrupted bool
}

func (w *formModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyMsg); ok && k.Type == tea.KeyCtrlC {
		w.interrupted = true
		return w, tea.Quit
	}
	f, cmd := w.Form.Update(msg)
	w.Form = f.(*huh.Form)
	return w, cmd
}

func (w *formModel) View() string {
	if w.interrupted {
		return "" // clear the form from the screen
	}
	return w.Form.View()
}

// chooseServer asks for the server address when none was given.
func (m *menu) chooseServer(ctx context.Context) error {
	addr := m.opts.Server
	if addr == "" {
		err := m.form(ctx, huh.NewGroup(
			huh.NewInput().
				Title("Server address").
				Description("host:port of the accountd server, as its operator gave it").
				Placeholder("127.0.0.1:8080").
				Validate(validServer).
				Value(&addr),
		))
		if err != nil {
			return err
		}
	}
	var roots *x509.CertPool
	if m.opts.CAFile != "" {
		var err error
		if roots, err = client.LoadCAFile(m.opts.CAFile); err != nil {
			return err
		}
	}
	cl, err := client.NewClient(strings.TrimSpace(addr), client.Options{
		Trust:            m.opts.Trust,
		ConfirmNewServer: m.confirmNewServer,
		IdentityRotated:  m.identityRotated,
		ClientKey:        m.opts.ClientKey,
		RootCAs:          roots,
		DeviceTokens:     m.opts.DeviceTokens,
	})
	if err != nil {
		return err
	}
	m.cl, m.server = cl, cl.Server()
	return nil
}

// needTrust is how confirmNewServer stops a dial that met an unknown
// server, so that the question is asked outside the spinner.
type needTrust struct{ fingerprint string }

func (e *needTrust) Error() string {
	return "menu: server identity " + e.fingerprint + " needs confirmation"
}

func (m *menu) confirmNewServer(server, fingerprint string) (bool, error) {
	if server == m.server && fingerprint == m.accepted {
		return true, nil
	}
	return false, &needTrust{fingerprint}
}

// identityRotated keeps the SDK's report of a rotated server identity
// for showRotations.
func (m *menu) identityRotated(_, previous, current string) {
	m.rotationsMu.Lock()
	defer m.rotationsMu.Unlock()
	m.rotations = append(m.rotations, [2]string{previous, current})
}

// showRotations tells the user of the identity rotations since the last
// call: the pin moved by itself, so the new fingerprint is news.
func (m *menu) showRotations() {
	m.rotationsMu.Lock()
	r := m.rotations
	m.rotations = nil
	m.rotationsMu.Unlock()
	for _, fp := range r {
		m.ok("Server identity key rotated: %s -> %s, pinned the new one.", fp[0], fp[1])
	}
}

// connect dials the server, asking about a new identity and offering a
// retry while the server cannot be reached.
func (m *menu) connect(ctx context.Context) error {
	for {
		err := m.spin(ctx, "Connecting to "+m.server, func(ctx context.Context) error {
			return m.cl.Connect(ctx)
		})
		var nt *needTrust
		switch {
		case err == nil:
			m.showRotations()
			m.ok("Connected to %s (%s).", m.server, m.cl.Fingerprint())
			m.askPolicy(ctx)
			if !m.accessible {
				m.hint("↑/↓ to move, Enter to choose, Esc to go back.")
			}
			return nil
		case errors.As(err, &nt):
			if err := m.askTrust(ctx, nt.fingerprint); err != nil {
				return err
			}
		case retryable(err):
			if err := m.offerRetry(ctx, err, false); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// askTrust shows a new server's fingerprint and asks whether to trust it,
// like ssh does for a new host.
func (m *menu) askTrust(ctx context.Context, fingerprint string) error {
	where := "the known-servers file"
	if ks, ok := m.opts.Trust.(*client.KnownServers); ok {
		where = ks.Path
	}
	m.say(m.style.warn.Render("This is the first connection to " + m.server + "."))
	m.say("Its identity fingerprint is")
	m.say("")
	m.say("    " + m.style.strong.Render(fingerprint))
	m.say("")
	m.say("Compare it with the fingerprint its operator gave you (accountd prints it when")
	m.say("it is set up and each time it starts). If they match, trust it: it is")
	m.say("remembered in " + where + ", and a server")
	m.say("that later shows another key will be refused.")
	trust := false
	err := m.form(ctx, huh.NewGroup(
		huh.NewConfirm().
			Title("Trust "+m.server+"?").
			Affirmative("Trust").
			Negative("Don't trust").
			Value(&trust),
	))
	if err != nil && !errors.Is(err, huh.ErrUserAborted) {
		return err
	}
	if !trust { // Esc is a no, too
		m.fail("Not connected: %s was not trusted, and nothing was sent to it.", m.server)
		return ErrNotTrusted
	}
	m.accepted = fingerprint
	return nil
}

// offerRetry explains a connection failure and asks what to do: retry
// (nil), or stop (errQuit), or, when back is set, return to the menu
// (errBack).
func (m *menu) offerRetry(ctx context.Context, err error, back bool) error {
	msg, hint := m.describe(err)
	m.fail("%s", msg)
	if hint != "" {
		m.hint(hint)
	}
	choice := "retry"
	options := []huh.Option[string]{huh.NewOption("Try again", "retry")}
	if back {
		options = append(options, huh.NewOption("Back to the menu", "back"))
	}
	options = append(options, huh.NewOption("Quit", "quit"))
	if ferr := m.form(ctx, huh.NewGroup(
		huh.NewSelect[string]().Title("What now?").Options(options...).Value(&choice),
	)); ferr != nil {
		if errors.Is(ferr, huh.ErrUserAborted) && back {
			return errBack
		}
		return ferr
	}
	switch choice {
	case "retry":
		return nil
	case "back":
		return errBack
	}
	return errQuit
}

// errBack returns to the menu without doing anything more.
var errBack = errors.New("menu: back")

// retryable reports whether err is the connection's fault (the server is
// down, going away, or too slow) rather than a refusal.
func retryable(err error) bool {
	return errors.Is(err, client.ErrConnection) || errors.Is(err, client.ErrServerShuttingDown) ||
		errors.Is(err, context.DeadlineExceeded)
}

// call runs one network operation behind a spinner. A connection
// failure offers a retry; the result is nil, errBack (the user gave up on
// this operation), or the server's refusal.
func (m *menu) call(ctx context.Context, title string, op func(context.Context) error) error {
	for {
		err := m.spin(ctx, title, op)
		var nt *needTrust
		var mismatch *client.KeyMismatchError
		var impostor *client.ImpersonationError
		switch {
		case err == nil || ctx.Err() != nil || errors.As(err, &mismatch) || errors.As(err, &impostor):
			return err
		case errors.As(err, &nt):
			// Redialed, and the server is unknown again (the
			// known-servers file was edited meanwhile).
			if err := m.askTrust(ctx, nt.fingerprint); err != nil {
				return err
			}
		case retryable(err):
			if err := m.offerRetry(ctx, err, true); err != nil {
				return err
			}
		default:
			return err
		}
	}
}
