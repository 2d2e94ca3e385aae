package menu

import (
	"context"
	"errors"
	"strings"

	"github.com/charmbracelet/huh"
	"github.com/mdp/qrterminal/v3"

	"github.com/accountd/accountd/client"
)

// The "Two-factor authentication" screen and the login's second step.

const (
	doRecoveryCodes = "recovery-codes"
	doTOTPOff       = "totp-off"
	// maxOTPAuthURI bounds the URI drawn as a QR code: far below what a
	// QR code holds, and far above what a server sends.
	maxOTPAuthURI = 1024
)

func (m *menu) twoFactor(ctx context.Context) error {
	if !m.token.Account.SecondFactor {
		return m.enrolTOTP(ctx)
	}
	choice, err := m.choose(ctx, "Two-factor authentication is on.",
		huh.NewOption("New recovery codes", doRecoveryCodes),
		huh.NewOption("Turn two-factor authentication off", doTOTPOff),
		huh.NewOption("Back", doBack),
	)
	if err != nil || choice == doBack {
		return err
	}
	password, code, err := m.factorChangeForm(ctx)
	if err != nil {
		return err
	}
	if choice == doTOTPOff {
		err = m.call(ctx, "Turning two-factor authentication off", func(ctx context.Context) error {
			return m.cl.TOTPDisable(ctx, m.token.Token, password, code)
		})
		if err != nil {
			return m.wrongPasswordOrCode(err)
		}
		m.token.Account.SecondFactor = false
		m.ok("Two-factor authentication is off.")
		return nil
	}
	var codes []string
	err = m.call(ctx, "Making new recovery codes", func(ctx context.Context) (err error) {
		codes, err = m.cl.RegenerateRecoveryCodes(ctx, m.token.Token, password, code)
		return err
	})
	if err != nil {
		return m.wrongPasswordOrCode(err)
	}
	m.ok("New recovery codes made; the old ones no longer work.")
	return m.showRecoveryCodes(ctx, codes)
}

// enrolTOTP turns TOTP on: the password, then the secret as a QR code
// and as text, then a code from the app, then the recovery codes once.
func (m *menu) enrolTOTP(ctx context.Context) error {
	var password string
	err := m.form(ctx, huh.NewGroup(
		huh.NewNote().Title("Two-factor authentication").
			Description("Logging in will ask, after your password, for a 6-digit code from an authenticator app on your phone."),
		m.passwordField("Password", &password),
	))
	if err != nil {
		return err
	}
	var en *client.TOTPEnrolment
	err = m.call(ctx, "Creating your secret", func(ctx context.Context) (err error) {
		en, err = m.cl.TOTPBegin(ctx, m.token.Token, password)
		return err
	})
	if err != nil {
		return m.wrongPassword(err)
	}
	secret := client.Printable(en.Secret)
	if len(en.URI) <= maxOTPAuthURI {
		m.say("Scan this QR code with your authenticator app:")
		var qr strings.Builder
		qrterminal.GenerateWithConfig(en.URI, qrterminal.Config{
			Level: qrterminal.L, Writer: &qr, HalfBlocks: true, QuietZone: 2,
			BlackChar: qrterminal.BLACK_BLACK, WhiteBlackChar: qrterminal.WHITE_BLACK,
			WhiteChar: qrterminal.WHITE_WHITE, BlackWhiteChar: qrterminal.BLACK_WHITE,
		})
		m.say(strings.TrimSuffix(qr.String(), "\n"))
	}
	// As text too, for apps without a camera and for screen readers.
	m.say("Or type this secret into the app: " + secret)
	for tries := 1; ; tries++ {
		var code string
		err := m.form(ctx, huh.NewGroup(
			huh.NewInput().Title("Code from your app").
				Description("The 6 digits the app shows for this account.").
				Validate(validTOTPCode).Value(&code),
		))
		if err != nil {
			return err
		}
		var codes []string
		err = m.call(ctx, "Turning two-factor authentication on", func(ctx context.Context) (err error) {
			codes, err = m.cl.TOTPConfirm(ctx, m.token.Token, strings.TrimSpace(code))
			return err
		})
		if errors.Is(err, client.ErrInvalidCredentials) && tries < 3 {
			m.fail("Wrong code.")
			m.hint("Type the code the app shows now; check that the phone's clock is right.")
			continue
		}
		if err != nil {
			return err
		}
		m.token.Account.SecondFactor = true
		m.ok("Two-factor authentication is on.")
		return m.showRecoveryCodes(ctx, codes)
	}
}

// showRecoveryCodes shows the codes until the user says they are saved;
// in a terminal they then disappear from the screen.
func (m *menu) showRecoveryCodes(ctx context.Context, codes []string) error {
	var b strings.Builder
	for _, c := range codes {
		b.WriteString(client.Printable(c) + "\n")
	}
	b.WriteString("\nEach logs you in once when you do not have your phone. This is the only time they are shown: save them now.")
	return m.form(ctx, huh.NewGroup(
		huh.NewNote().Title("Your recovery codes").Description(b.String()).
			Next(true).NextLabel("I have saved them"),
	))
}

// factorChangeForm asks for what a change of the factor needs: the
// password and a current code.
func (m *menu) factorChangeForm(ctx context.Context) (password, code string, err error) {
	err = m.form(ctx, huh.NewGroup(
		m.passwordField("Password", &password),
		huh.NewInput().Title("Code from your app, or a recovery code").Validate(validFactorCode).Value(&code),
	))
	return password, strings.TrimSpace(code), err
}

// withFactorCode is fields, followed by a field for the code when the
// account has two-factor authentication on: every change of a
// credential or of the account needs both factors then.
func (m *menu) withFactorCode(code *string, fields ...huh.Field) []huh.Field {
	if !m.token.Account.SecondFactor {
		return fields
	}
	return append(fields, huh.NewInput().Title("Code from your app, or a recovery code").
		Description("Two-factor authentication is on.").Validate(validFactorCode).Value(code))
}

// refusedReauth words a refused re-authentication of a change that
// asked for the password, and the code when the factor is on.
func (m *menu) refusedReauth(err error) error {
	if m.token.Account.SecondFactor {
		return m.wrongPasswordOrCode(err)
	}
	return m.wrongPassword(err)
}

func (m *menu) wrongPasswordOrCode(err error) error {
	if !errors.Is(err, client.ErrInvalidCredentials) {
		return err
	}
	m.fail("Wrong password or code; nothing was changed.")
	m.hint("Too many wrong tries make you wait, as for logging in.")
	return errBack
}

// secondFactor asks for the code a login needs after its password, until
// one is right or the login's challenge dies.
func (m *menu) secondFactor(ctx context.Context, sf *client.SecondFactorRequired) (*client.Token, error) {
	for {
		var code string
		err := m.form(ctx, huh.NewGroup(
			huh.NewInput().Title("Two-factor code").
				Description("The 6-digit code from your authenticator app, or a recovery code.").
				Validate(validFactorCode).Value(&code),
		))
		if err != nil {
			return nil, err
		}
		var tok *client.Token
		err = m.call(ctx, "Checking the code", func(ctx context.Context) (err error) {
			tok, err = m.cl.LoginSecondFactor(ctx, sf, client.CodeAnswer(code))
			return err
		})
		switch {
		case err == nil || tok != nil:
			return tok, err // err: a *client.DeviceTokenError
		case errors.Is(err, client.ErrChallengeExpired):
			m.fail("This login has expired.")
			m.hint("Log in again.")
			return nil, errBack
		case errors.Is(err, client.ErrInvalidCredentials):
			m.fail("Wrong code.")
			m.hint("Type the code the app shows now, or an unused recovery code.")
		default:
			return nil, err
		}
	}
}

func validTOTPCode(s string) error {
	s = strings.TrimSpace(s)
	if len(s) != 6 || strings.Trim(s, "0123456789") != "" {
		return errors.New("the app shows 6 digits")
	}
	return nil
}

func validFactorCode(s string) error {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return errors.New("enter the code")
	}
	return nil
}
