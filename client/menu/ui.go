package menu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh/spinner"
	"github.com/charmbracelet/lipgloss"

	"github.com/accountd/accountd/client"
)

// styles are the colours of the menu's own lines, rendered for Out (no
// colour when Out is not a terminal).
type styles struct {
	ok, bad, warn, strong, faint lipgloss.Style
}

func newStyles(out io.Writer) styles {
	r := lipgloss.NewRenderer(out)
	return styles{
		ok:     r.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "#02A35E", Dark: "#02BF87"}),
		bad:    r.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "#C4000B", Dark: "#FF4672"}).Bold(true),
		warn:   r.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "#B35900", Dark: "#F7B32B"}).Bold(true),
		strong: r.NewStyle().Bold(true),
		faint:  r.NewStyle().Faint(true),
	}
}

// say prints one line of the menu's own text. Lines printed between
// forms stay on the screen above the next form.
func (m *menu) say(line string) { fmt.Fprintln(m.out, line) }

// ok and fail print a line of the menu's format; string and error
// arguments, which may come from the server, go through
// client.Printable.
func (m *menu) ok(format string, args ...any) {
	m.say(m.style.ok.Render("✓ ") + fmt.Sprintf(format, printable(args)...))
}

func (m *menu) fail(format string, args ...any) {
	m.say(m.style.bad.Render("✗ " + fmt.Sprintf(format, printable(args)...)))
}

// rendered is text the menu styled itself (its escapes are its own): it
// is printed as it is.
type rendered string

// printable passes the strings and errors among args through
// client.Printable; rendered text passes as it is.
func printable(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = client.Printable(v)
		case error:
			out[i] = client.Printable(v.Error())
		default:
			out[i] = a
		}
	}
	return out
}

func (m *menu) hint(text string) { m.say(m.style.faint.Render("  " + text)) }

// spin runs op with the operation timeout, showing title and a spinner
// meanwhile (a plain line in accessible mode).
func (m *menu) spin(ctx context.Context, title string, op func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	if m.accessible {
		m.say(title + "...")
		return op(ctx)
	}
	done := make(chan error, 1)
	err := spinner.New().
		Title(" " + title + "...").
		Output(m.out).
		Context(ctx).
		ActionWithErr(func(ctx context.Context) error {
			err := op(ctx)
			done <- err
			return err
		}).
		Run()
	select {
	case opErr := <-done:
		return opErr
	default:
		// The spinner stopped first (ctx ended, or Ctrl-C); op sees
		// ctx end when spin returns.
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, tea.ErrInterrupted) {
			return errQuit // Ctrl-C
		}
		if err == nil {
			err = errors.New("menu: spinner stopped early")
		}
		return err
	}
}

// describe says what went wrong in words that tell the user what to do:
// a message and an optional hint.
func (m *menu) describe(err error) (msg, hint string) {
	var se *client.ServerError
	switch {
	case errors.As(err, &se):
		return describeRefusal(se)
	case errors.Is(err, client.ErrServerShuttingDown):
		return fmt.Sprintf("The server at %s is shutting down.", m.server),
			"Try again in a moment, when it is back."
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("The server at %s did not answer within %s.", m.server, m.opts.Timeout),
			"It may be overloaded, or the network is slow. Try again."
	case errors.Is(err, client.ErrConnection):
		return fmt.Sprintf("Cannot reach the server at %s: %s.", m.server, connProblem(err)),
			"Check that accountd is running there and that the address is right."
	}
	return sentence(strings.TrimPrefix(err.Error(), "client: ")), ""
}

// describeRefusal words a refusal by the server.
func describeRefusal(se *client.ServerError) (msg, hint string) {
	wait := ""
	if se.RetryAfter > 0 {
		wait = roundWait(se.RetryAfter)
	}
	switch {
	case errors.Is(se, client.ErrInvalidCredentials):
		return "Wrong username or password.", "Check both and try again; usernames are not case-sensitive."
	case errors.Is(se, client.ErrNotFound):
		return "That session is not one of yours, or it has ended.", "List the sessions again."
	case errors.Is(se, client.ErrUsernameTaken):
		return "That username is taken.", "Choose another one, or log in if it is yours."
	case errors.Is(se, client.ErrEmailTaken):
		return "That email address is already registered.", "Log in to that account, or use another address."
	case errors.Is(se, client.ErrInvalidCode):
		return "That code is wrong or no longer valid.", "Codes work once, for 10 minutes and 5 tries: ask for a new one."
	case errors.Is(se, client.ErrEmailUnverified):
		return "This server needs a verified email before you log in.", "Type the code mailed to your address."
	case errors.Is(se, client.ErrInvalidToken):
		return "Your session has ended (it expired or was logged out).", "Log in again."
	case errors.Is(se, client.ErrRateLimited):
		if wait == "" {
			return "Too many attempts.", "Wait a little, then try again."
		}
		return "Too many attempts.", "Wait " + wait + ", then try again."
	case errors.Is(se, client.ErrBusy), errors.Is(se, client.ErrUnavailable):
		if wait == "" {
			wait = "a moment"
		}
		return sentence(se.Message), "Try again in " + wait + "."
	case errors.Is(se, client.ErrChallengeExpired):
		return "This login has expired.", "Log in again."
	case errors.Is(se, client.ErrInternal):
		return "The server failed to do that (internal error).", "Try again; if it keeps failing, tell the server's operator."
	}
	return sentence(se.Message), ""
}

// connProblem names the cause of a connection failure briefly.
func connProblem(err error) string {
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing is listening there"
	case errors.As(err, &dns):
		return "unknown host " + dns.Name
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was cut"
	case errors.As(err, &op) && op.Timeout():
		return "no answer in time"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// sentence capitalizes s and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// roundWait shows a wait the way people say it: "2s", "1m30s".
func roundWait(d time.Duration) string {
	if d < time.Second {
		return "a second"
	}
	return d.Round(time.Second).String()
}

// until says when t is, in local time, and how far away.
func until(t, now time.Time) string {
	left := t.Sub(now).Round(time.Minute)
	when := t.Local().Format("15:04 MST")
	if t.Local().YearDay() != now.Local().YearDay() {
		when = t.Local().Format("Mon 2 Jan 15:04 MST")
	}
	if left <= 0 {
		return when
	}
	return fmt.Sprintf("%s (in %s)", when, hoursMinutes(left))
}

// hoursMinutes shows a duration of minutes as "45m", "1h" or "23h59m".
func hoursMinutes(d time.Duration) string {
	h, m := int(d.Hours()), int(d.Minutes())%60
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}
