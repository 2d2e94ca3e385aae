package menu

import (
	"context"
	"errors"
	"strings"

	"github.com/charmbracelet/huh"

	"github.com/accountd/accountd/client"
)

// The mailed codes: verifying an address, and a forgotten password.

// validCode checks a mailed code as typed: 8 digits, spaces and dashes
// allowed between them.
func validCode(s string) error {
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == ' ' || r == '-':
		default:
			return errors.New("the code is 8 digits")
		}
	}
	if digits != 8 {
		return errors.New("the code is 8 digits")
	}
	return nil
}

// optionalCode is validCode for a field that may stay empty.
func optionalCode(s string) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return validCode(s)
}

// askSignupCode offers to type the code mailed to a new account's
// address right after signup; an empty answer leaves it for later.
func (m *menu) askSignupCode(ctx context.Context, username, address string) error {
	code := ""
	err := m.form(ctx, huh.NewGroup(
		huh.NewInput().Title("Code mailed to "+client.Printable(address)+" (empty: later)").
			Description("Type the 8 digits to verify the address; it is needed to reset a forgotten password.").
			Validate(optionalCode).Value(&code),
	))
	if err != nil || strings.TrimSpace(code) == "" {
		if err == nil {
			m.hint("Verify it later from Account… > Verify email.")
		}
		return err
	}
	var a *client.Account
	err = m.call(ctx, "Verifying "+address, func(ctx context.Context) (err error) {
		a, err = m.cl.VerifyEmailLogin(ctx, username, strings.TrimSpace(code))
		return err
	})
	if err != nil {
		// The signup stands: show why and go on to the login offer.
		return m.handled(err)
	}
	m.email = a.Email
	m.ok("Email %s verified.", a.Email)
	return nil
}

// verifyEmail takes the code mailed to the account's pending address, or
// has a new one mailed.
func (m *menu) verifyEmail(ctx context.Context) error {
	code := ""
	err := m.form(ctx, huh.NewGroup(
		huh.NewInput().Title("Code mailed to "+client.Printable(m.token.Account.PendingEmail)+" (empty: mail a new one)").
			Validate(optionalCode).Value(&code),
	))
	if err != nil {
		return err
	}
	if code = strings.TrimSpace(code); code == "" {
		err := m.call(ctx, "Asking for a new code", func(ctx context.Context) error {
			return m.cl.ResendVerification(ctx, m.token.Token)
		})
		if err != nil {
			return err
		}
		m.ok("A new code is on its way to %s; the one before no longer works.", m.token.Account.PendingEmail)
		return nil
	}
	var a *client.Account
	err = m.call(ctx, "Verifying the email", func(ctx context.Context) (err error) {
		a, err = m.cl.VerifyEmail(ctx, m.token.Token, code)
		return err
	})
	if err != nil {
		return err
	}
	m.token.Account = *a
	m.email = a.Email
	m.ok("Email %s verified.", a.Email)
	return nil
}

// verifyBeforeLogin answers a login refused until the email is verified:
// the server mailed a code; once it is typed, the login is tried again.
func (m *menu) verifyBeforeLogin(ctx context.Context, username, password string) error {
	m.fail("This server needs a verified email before you log in.")
	code := ""
	err := m.form(ctx, huh.NewGroup(
		huh.NewInput().Title("Code just mailed to your address").Validate(validCode).Value(&code),
	))
	if err != nil {
		return err
	}
	err = m.call(ctx, "Verifying the email", func(ctx context.Context) error {
		_, err := m.cl.VerifyEmailLogin(ctx, username, strings.TrimSpace(code))
		return err
	})
	if err != nil {
		return err
	}
	m.ok("Email verified.")
	return m.openSession(ctx, username, password)
}

// forgotPassword mails a reset code to the account's verified address
// and sets the new password with it.
func (m *menu) forgotPassword(ctx context.Context) error {
	login, title := m.username, "Username or email"
	if m.username != "" {
		title += " (empty: " + client.Printable(m.username) + ")"
	}
	err := m.form(ctx, huh.NewGroup(
		huh.NewInput().Title(title).
			Validate(func(s string) error {
				if strings.TrimSpace(s) == "" && m.username == "" {
					return errors.New("enter your username or email")
				}
				return nil
			}).Value(&login),
	))
	if err != nil {
		return err
	}
	if login = strings.TrimSpace(login); login == "" {
		login = m.username
	}
	err = m.call(ctx, "Asking for a reset code", func(ctx context.Context) error {
		return m.cl.RequestPasswordReset(ctx, login)
	})
	if err != nil {
		return err
	}
	m.ok("If an account has that username or a verified email, a code is on its way to it (valid 10 minutes).")
	var code, password, again string
	min := m.minPassword
	err = m.form(ctx, huh.NewGroup(
		huh.NewInput().Title("Code from the mail").Validate(validCode).Value(&code),
		huh.NewInput().Title("New password").EchoMode(m.secretEcho).
			DescriptionFunc(passwordMeter(min, &password, &login), &password).
			Validate(validPassword(min, &login)).Value(&password),
		huh.NewInput().Title("New password again").EchoMode(m.secretEcho).
			Validate(samePassword(&password)).Value(&again),
	))
	if err != nil {
		return err
	}
	var n int
	err = m.call(ctx, "Setting the new password", func(ctx context.Context) (err error) {
		n, err = m.cl.ResetPassword(ctx, login, strings.TrimSpace(code), password)
		return err
	})
	if err != nil {
		return err
	}
	m.ok("Password reset; %s ended. Log in with the new password.", plural(n, "session", "sessions"))
	return nil
}
