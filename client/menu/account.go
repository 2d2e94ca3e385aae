package menu

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/huh"

	"github.com/accountd/accountd/client"
)

// The Account screen: the owner's changes to their own account.
const (
	doChangePassword = "passwd"
	doSessions       = "sessions"
	doLogoutAll      = "logout-all"
	doChangeEmail    = "email"
	doVerifyEmail    = "verify"
	doDeleteAccount  = "delete"
	doTwoFactor      = "two-factor"
	doBack           = "back"
)

// askPolicy asks the server for its password minimum, so the forms check
// what the server will; a server that does not answer leaves the
// configured minimum.
func (m *menu) askPolicy(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	if p, err := m.cl.Policy(ctx); err == nil && p.MinPasswordLength > 0 {
		m.minPassword = p.MinPasswordLength
		m.mailOn = p.Mail
	}
}

func (m *menu) accountScreen(ctx context.Context) error {
	options := []huh.Option[string]{
		huh.NewOption("Change password", doChangePassword),
		huh.NewOption("Sessions", doSessions),
		huh.NewOption("Log out everywhere", doLogoutAll),
		huh.NewOption("Change email", doChangeEmail),
		huh.NewOption("Two-factor authentication", doTwoFactor),
	}
	if m.token.Account.PendingEmail != "" {
		options = append(options, huh.NewOption("Verify email", doVerifyEmail))
	}
	options = append(options, huh.NewOption("Delete account", doDeleteAccount), huh.NewOption("Back", doBack))
	choice, err := m.choose(ctx, "Account "+m.token.Account.Username+".", options...)
	if err != nil {
		return err
	}
	switch choice {
	case doChangePassword:
		return m.changePassword(ctx)
	case doSessions:
		return m.sessions(ctx)
	case doLogoutAll:
		return m.logoutAll(ctx)
	case doChangeEmail:
		return m.changeEmail(ctx)
	case doVerifyEmail:
		return m.verifyEmail(ctx)
	case doDeleteAccount:
		return m.deleteAccount(ctx)
	case doTwoFactor:
		return m.twoFactor(ctx)
	}
	return nil
}

func (m *menu) passwordField(title string, v *string) *huh.Input {
	return huh.NewInput().Title(title).EchoMode(m.secretEcho).Validate(func(s string) error {
		if s == "" {
			return errors.New("enter your password")
		}
		return nil
	}).Value(v)
}

func (m *menu) changePassword(ctx context.Context) error {
	var current, next, again string
	endOthers := true
	username := m.token.Account.Username
	min := m.minPassword
	var code string
	err := m.form(ctx, huh.NewGroup(m.withFactorCode(&code,
		m.passwordField("Current password", &current),
		huh.NewInput().Title("New password").EchoMode(m.secretEcho).
			DescriptionFunc(passwordMeter(min, &next, &username), &next).
			Validate(validPassword(min, &username)).Value(&next),
		huh.NewInput().Title("New password again").EchoMode(m.secretEcho).
			DescriptionFunc(liveHint("The same once more.", samePassword(&next), &again), &again).
			Validate(samePassword(&next)).Value(&again),
		huh.NewConfirm().Title("Log out your other sessions?").
			Description("Recommended: whoever knew the old password is logged out too.").
			Affirmative("Yes").Negative("No").Value(&endOthers),
	)...))
	if err != nil {
		return err
	}
	var r *client.PasswordChange
	err = m.call(ctx, "Changing the password", func(ctx context.Context) (err error) {
		r, err = m.cl.ChangePassword(ctx, client.ChangePasswordRequest{
			Token: m.token.Token, CurrentPassword: current, NewPassword: next, Code: strings.TrimSpace(code), KeepOtherSessions: !endOthers,
		})
		return err
	})
	if err != nil {
		return m.refusedReauth(err)
	}
	m.token = &r.TokenResult
	m.save()
	m.ok("Password changed; %s ended.", plural(r.SessionsEnded, "other session", "other sessions"))
	return nil
}

// wrongPassword words a refused re-authentication, which the server
// answers like a failed login; other errors pass through.
func (m *menu) wrongPassword(err error) error {
	if !errors.Is(err, client.ErrInvalidCredentials) {
		return err
	}
	m.fail("Wrong password; nothing was changed.")
	m.hint("Too many wrong passwords make you wait, as for logging in.")
	return errBack
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// sessions lists the account's live sessions and offers to end one.
func (m *menu) sessions(ctx context.Context) error {
	var list []client.SessionDetail
	err := m.call(ctx, "Listing your sessions", func(ctx context.Context) (err error) {
		list, err = m.cl.Sessions(ctx, m.token.Token)
		return err
	})
	if err != nil {
		return err
	}
	now := time.Now()
	m.ok("%s:", plural(len(list), "live session", "live sessions"))
	options := []huh.Option[string]{}
	for _, s := range list {
		line := describeSession(s, now)
		if s.Current {
			line += "  (this one)"
		}
		m.say("  " + line)
		if !s.Current {
			options = append(options, huh.NewOption("End "+line, s.ID))
		}
	}
	if len(options) == 0 {
		m.hint("No other session to end.")
		return nil
	}
	options = append(options, huh.NewOption("Back", doBack))
	choice := doBack
	if err := m.form(ctx, huh.NewGroup(
		huh.NewSelect[string]().Title("End a session?").Options(options...).Value(&choice),
	)); err != nil || choice == doBack {
		return err
	}
	err = m.call(ctx, "Ending the session", func(ctx context.Context) error {
		return m.cl.RevokeSession(ctx, m.token.Token, choice)
	})
	if err != nil {
		return err
	}
	m.ok("Session %s ended: its tokens no longer work.", choice[:8])
	return nil
}

// describeSession is one line about a session: its id's start, the
// client and address it logged in from (the client's text made safe to
// print), and when it was last used.
func describeSession(s client.SessionDetail, now time.Time) string {
	who := sanitize(s.Client)
	if who == "" {
		who = "unnamed client"
	}
	from := s.ClientIP
	if from == "" {
		from = "unknown address"
	}
	return fmt.Sprintf("%s  %s from %s, last used %s", s.ID[:8], who, from, ago(s.LastUsedAt, now))
}

// sanitize keeps printable ASCII only, so that a session's client text
// cannot move the cursor or recolour the screen.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return '?'
		}
		return r
	}, s)
}

// ago says how long before now t was, roughly.
func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return t.Local().Format("2 Jan 15:04")
}

func (m *menu) logoutAll(ctx context.Context) error {
	sure := false
	if err := m.form(ctx, huh.NewGroup(
		huh.NewConfirm().Title("Log out every session of "+m.token.Account.Username+", this one included?").
			Affirmative("Log out everywhere").Negative("Cancel").Value(&sure),
	)); err != nil || !sure {
		return err
	}
	var n int
	err := m.call(ctx, "Logging out everywhere", func(ctx context.Context) (err error) {
		n, err = m.cl.LogoutAll(ctx, m.token.Token, false)
		return err
	})
	if err != nil {
		return err
	}
	name := m.token.Account.Username
	m.endSession()
	m.ok("Logged out %s everywhere: %s ended.", name, plural(n, "session", "sessions"))
	return nil
}

func (m *menu) changeEmail(ctx context.Context) error {
	email, password, code := "", "", ""
	err := m.form(ctx, huh.NewGroup(m.withFactorCode(&code,
		huh.NewInput().Title("New email").
			DescriptionFunc(liveHint("Like name@example.com.", validNewEmail, &email), &email).
			Validate(validNewEmail).Value(&email),
		m.passwordField("Password", &password),
	)...))
	if err != nil {
		return err
	}
	email = strings.TrimSpace(email)
	var a *client.Account
	err = m.call(ctx, "Changing the email", func(ctx context.Context) (err error) {
		a, err = m.cl.ChangeEmailWith(ctx, client.ChangeEmailRequest{Token: m.token.Token, Password: password, NewEmail: email, Code: strings.TrimSpace(code)})
		return err
	})
	if err != nil {
		return m.refusedReauth(err)
	}
	m.token.Account = *a
	m.ok("A code was mailed to %s; the address is used once it is verified (Account… > Verify email).", a.PendingEmail)
	return nil
}

// validNewEmail is validEmail for a field that must not stay empty.
func validNewEmail(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("enter the new address")
	}
	return validEmail(strings.TrimSpace(s))
}

// deleteAccount deletes the account after the user typed its name and
// its password.
func (m *menu) deleteAccount(ctx context.Context) error {
	name := m.token.Account.Username
	var typed, password, code string
	err := m.form(ctx, huh.NewGroup(m.withFactorCode(&code,
		huh.NewNote().Title("Delete account "+name).
			Description("The account and every session of it are deleted at once. This cannot be undone."),
		huh.NewInput().Title("Type "+name+" to confirm").Validate(func(s string) error {
			if strings.TrimSpace(s) != name {
				return fmt.Errorf("type %s exactly", name)
			}
			return nil
		}).Value(&typed),
		m.passwordField("Password", &password),
	)...))
	if err != nil {
		return err
	}
	var n int
	err = m.call(ctx, "Deleting "+name, func(ctx context.Context) (err error) {
		n, err = m.cl.DeleteAccountWith(ctx, client.DeleteAccountRequest{Token: m.token.Token, Password: password, Code: strings.TrimSpace(code)})
		return err
	})
	if err != nil {
		return m.refusedReauth(err)
	}
	m.endSession()
	m.username = ""
	m.ok("Account %s deleted; %s ended.", name, plural(n, "session", "sessions"))
	return nil
}
