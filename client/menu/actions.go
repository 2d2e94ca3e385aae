package menu

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"time"

	"github.com/charmbracelet/huh"

	"github.com/accountd/accountd/client"
)

// Menu choices.
const (
	doSignup   = "signup"
	doLogin    = "login"
	doWhoami   = "whoami"
	doRefresh  = "refresh"
	doLogout   = "logout"
	doAccount  = "account"
	doForgot   = "forgot"
	doQuit     = "quit"
	titleMenu  = "accountd"
	signupHelp = "3 to 32 characters: a-z, 0-9, '.', '_' and '-'"
)

func (m *menu) choose(ctx context.Context, status string, options ...huh.Option[string]) (string, error) {
	choice := options[0].Value
	title := titleMenu + " · " + m.server
	if m.accessible {
		// Accessible mode shows no description: the status goes first.
		m.say("")
		title = status + " " + title
	}
	err := m.form(ctx, huh.NewGroup(
		huh.NewSelect[string]().
			Title(title).
			Description(status).
			Options(options...).
			Value(&choice),
	))
	return choice, err
}

func (m *menu) loggedOut(ctx context.Context) error {
	choice, err := m.choose(ctx, "Not logged in.",
		huh.NewOption("Log in", doLogin),
		huh.NewOption("Sign up", doSignup),
		huh.NewOption("Forgot password?", doForgot),
		huh.NewOption("Quit", doQuit),
	)
	if err != nil {
		return err
	}
	switch choice {
	case doSignup:
		return m.handled(m.signup(ctx))
	case doLogin:
		return m.handled(m.login(ctx))
	case doForgot:
		return m.handled(m.forgotPassword(ctx))
	}
	return errQuit
}

func (m *menu) loggedIn(ctx context.Context) error {
	choice, err := m.choose(ctx, "Logged in as "+client.Printable(m.token.Account.Username)+".",
		huh.NewOption("Who am I", doWhoami),
		huh.NewOption("Refresh session", doRefresh),
		huh.NewOption("Log out", doLogout),
		huh.NewOption("Account…", doAccount),
		huh.NewOption("Quit", doQuit),
	)
	if err != nil {
		return err
	}
	switch choice {
	case doWhoami:
		return m.handled(m.whoami(ctx))
	case doRefresh:
		return m.handled(m.refresh(ctx))
	case doLogout:
		return m.handled(m.logout(ctx))
	case doAccount:
		return m.handled(m.accountScreen(ctx))
	}
	return errQuit
}

// menuClient names the menu in the account's session list.
var menuClient = "account menu (" + runtime.GOOS + ")"

// handled shows what an action's error means and returns to the menu,
// unless the error ends the menu.
func (m *menu) handled(err error) error {
	var se *client.ServerError
	switch {
	case err == nil, errors.Is(err, errBack), errors.Is(err, huh.ErrUserAborted):
		return nil
	case errors.As(err, &se):
		msg, hint := describeRefusal(se)
		m.fail("%s", msg)
		if hint != "" {
			m.hint(hint)
		}
		if errors.Is(se, client.ErrInvalidToken) {
			m.endSession()
		}
		return nil
	}
	return err // quit, a changed server identity, the input ending
}

func (m *menu) signup(ctx context.Context) error {
	username, email, generate := m.username, m.email, false
	err := m.form(ctx, huh.NewGroup(
		huh.NewInput().Title("Username").
			DescriptionFunc(liveHint(signupHelp, validUsername, &username), &username).
			Validate(validUsername).Value(&username),
		huh.NewInput().Title("Email (optional)").
			DescriptionFunc(liveHint("Leave it empty to skip.", validEmail, &email), &email).
			Validate(validEmail).Value(&email),
		huh.NewSelect[bool]().Title("Password").
			Options(
				huh.NewOption("I'll choose one", false),
				huh.NewOption("Generate a strong one for me (shown once)", true),
			).Value(&generate),
	))
	if err != nil {
		return err
	}
	username, email = strings.ToLower(strings.TrimSpace(username)), strings.TrimSpace(email)
	m.username, m.email = username, email
	var password string
	if !generate {
		var again string
		min := m.minPassword
		err := m.form(ctx, huh.NewGroup(
			huh.NewInput().Title("Password").EchoMode(m.secretEcho).
				DescriptionFunc(passwordMeter(min, &password, &username), &password).
				Validate(validPassword(min, &username)).Value(&password),
			huh.NewInput().Title("Password again").EchoMode(m.secretEcho).
				DescriptionFunc(liveHint("The same once more.", samePassword(&password), &again), &again).
				Validate(samePassword(&password)).Value(&again),
		))
		if err != nil {
			return err
		}
	}
	var r *client.SignupResult
	err = m.call(ctx, "Creating account "+username, func(ctx context.Context) (err error) {
		r, err = m.cl.Signup(ctx, username, password, email)
		return err
	})
	if err != nil {
		// After a dropped connection, Try again may meet the account
		// the first attempt created: "taken" then says to log in.
		return err
	}
	m.ok("Account %s created.", r.Account.Username)
	if r.GeneratedPassword != "" {
		password = r.GeneratedPassword
		if err := m.showOnce(ctx, password); err != nil {
			return err
		}
	}
	if r.Account.PendingEmail != "" && m.mailOn {
		if err := m.askSignupCode(ctx, r.Account.Username, r.Account.PendingEmail); err != nil {
			return err
		}
	}
	now := true
	if err := m.form(ctx, huh.NewGroup(
		huh.NewConfirm().Title("Log in as "+client.Printable(r.Account.Username)+" now?").Affirmative("Yes").Negative("No").Value(&now),
	)); err != nil || !now {
		return err
	}
	return m.openSession(ctx, r.Account.Username, password)
}

// showOnce shows a generated password until the user says it is saved;
// in a terminal it then disappears from the screen.
func (m *menu) showOnce(ctx context.Context, password string) error {
	return m.form(ctx, huh.NewGroup(
		huh.NewNote().
			Title("Your new password").
			Description(client.Printable(password)+"\n\nThis is the only time it is shown. Save it in your password manager now.").
			Next(true).NextLabel("I have saved it"),
	))
}

func (m *menu) login(ctx context.Context) error {
	username, password := m.username, ""
	usernameField := huh.NewInput().Title("Username").Value(&username)
	if m.username == "" {
		// With a username to offer, an empty answer takes it.
		usernameField.Validate(validLoginName)
	}
	err := m.form(ctx, huh.NewGroup(
		usernameField,
		huh.NewInput().Title("Password").EchoMode(m.secretEcho).
			Validate(func(s string) error {
				if s == "" {
					return errors.New("enter your password")
				}
				return nil
			}).Value(&password),
	))
	if err != nil {
		return err
	}
	if username = strings.TrimSpace(username); username == "" {
		username = m.username
	}
	m.username = strings.ToLower(username)
	return m.openSession(ctx, username, password)
}

func (m *menu) openSession(ctx context.Context, username, password string) error {
	var tok *client.Token
	err := m.call(ctx, "Logging in as "+username, func(ctx context.Context) (err error) {
		tok, err = m.cl.LoginWith(ctx, client.LoginRequest{Username: username, Password: password, Client: menuClient})
		return err
	})
	var sf *client.SecondFactorRequired
	if errors.As(err, &sf) {
		tok, err = m.secondFactor(ctx, sf)
	}
	if errors.Is(err, client.ErrEmailUnverified) {
		return m.verifyBeforeLogin(ctx, username, password)
	}
	var kept *client.DeviceTokenError
	if errors.As(err, &kept) && tok != nil {
		// Logged in all the same; the next login is a stranger's.
		m.fail("This device's token was not kept: %v", kept.Err)
		err = nil
	}
	if err != nil {
		return err
	}
	m.token = tok
	m.ok("Logged in as %s. This token is valid until %s.", tok.Account.Username, until(tok.ExpiresAt, time.Now()))
	m.save()
	return nil
}

func (m *menu) whoami(ctx context.Context) error {
	var id *client.Identity
	err := m.call(ctx, "Asking the server who you are", func(ctx context.Context) (err error) {
		id, err = m.cl.Authenticate(ctx, m.token.Token)
		return err
	})
	if err != nil {
		return err
	}
	now := time.Now()
	m.ok("You are %s.", rendered(m.style.strong.Render(client.Printable(id.Account.Username))))
	m.say("  account id    " + client.Printable(id.Account.ID))
	if id.Account.Email != "" {
		m.say("  email         " + client.Printable(id.Account.Email))
	}
	if id.Account.PendingEmail != "" {
		m.say("  email         " + client.Printable(id.Account.PendingEmail) + " (unverified: Account… > Verify email)")
	}
	m.say("  member since  " + id.Account.CreatedAt.Local().Format("2 Jan 2006"))
	m.say("  session       " + client.Printable(id.Session.ID) + ", started " + id.Session.CreatedAt.Local().Format("15:04 MST"))
	if id.AAL >= 2 {
		m.say("  logged in     with your password and a second factor")
	} else {
		m.say("  logged in     with your password")
	}
	m.say("  token valid   until " + until(m.token.ExpiresAt, now))
	m.say("  session ends  " + until(id.Session.ExpiresAt, now) + " at the latest")
	return nil
}

func (m *menu) refresh(ctx context.Context) error {
	var tok *client.Token
	err := m.call(ctx, "Refreshing the session", func(ctx context.Context) (err error) {
		tok, err = m.cl.Refresh(ctx, m.token.Token)
		return err
	})
	if err != nil {
		return err
	}
	m.token = tok
	m.ok("Session refreshed: the new token is valid until %s.", until(tok.ExpiresAt, time.Now()))
	m.save()
	return nil
}

func (m *menu) logout(ctx context.Context) error {
	err := m.call(ctx, "Logging out", func(ctx context.Context) error {
		return m.cl.Logout(ctx, m.token.Token)
	})
	if err != nil {
		return err
	}
	name := m.token.Account.Username
	m.endSession()
	m.ok("Logged out %s. The session is closed on the server.", name)
	return nil
}

// endSession forgets the session here and in the saved sessions.
func (m *menu) endSession() {
	m.token = nil
	if m.opts.Sessions != nil {
		if err := m.opts.Sessions.Remove(m.server); err != nil {
			m.fail("Could not remove the saved session: %v", err)
		}
	}
}

// save keeps the session for the next run when --remember asked for it.
func (m *menu) save() {
	if m.opts.Sessions == nil || m.token == nil {
		return
	}
	err := m.opts.Sessions.Save(SavedSession{
		Server: m.server, Username: m.token.Account.Username, Token: m.token.Token, ExpiresAt: m.token.ExpiresAt,
	})
	if err != nil {
		m.fail("Could not save the session for next time: %v", err)
		return
	}
	m.hint("Remembered in " + m.opts.Sessions.Dir + " until you log out.")
}

// resume picks up a saved session: refreshing proves it is still open
// and gives it a full token lifetime again.
func (m *menu) resume(ctx context.Context) error {
	if m.opts.Sessions == nil {
		return nil
	}
	saved, err := m.opts.Sessions.Load(m.server)
	if err != nil {
		m.fail("Ignoring the saved session: %v", err)
		return nil
	}
	if saved == nil {
		return nil
	}
	var tok *client.Token
	err = m.call(ctx, "Resuming the session of "+client.Printable(saved.Username), func(ctx context.Context) (err error) {
		tok, err = m.cl.Refresh(ctx, saved.Token)
		return err
	})
	switch {
	case err == nil:
		m.token = tok
		m.ok("Welcome back, %s.", tok.Account.Username)
		m.save()
	case errors.Is(err, client.ErrInvalidToken):
		m.fail("The saved session of %s has ended (it expired or was logged out).", saved.Username)
		m.hint("Log in again.")
		m.username = saved.Username
		m.endSession()
	default:
		return m.handled(err)
	}
	return nil
}

// quit ends the menu. A session that is not remembered is closed on the
// server: nobody could use its token after the menu is gone.
func (m *menu) quit(ctx context.Context) error {
	if m.token == nil || ctx.Err() != nil {
		return nil
	}
	if m.opts.Sessions != nil {
		m.ok("Bye. Your session is remembered for the next run.")
		return nil
	}
	err := m.spin(ctx, "Closing the session", func(ctx context.Context) error {
		return m.cl.Logout(ctx, m.token.Token)
	})
	if err != nil {
		msg, _ := m.describe(err)
		m.fail("Could not close the session on the server: %s", msg)
		m.hint("Its token stops working at " + until(m.token.ExpiresAt, time.Now()) + ".")
		return nil
	}
	m.ok("Logged out %s. Bye. (Run with --remember to stay logged in between runs.)", m.token.Account.Username)
	return nil
}
