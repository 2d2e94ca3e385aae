package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/accountd/accountd/client"
)

// secondFactor answers a login's second_factor_required with the line
// after the password: a code from the app, or a recovery code.
func (o *options) secondFactor(ctx context.Context, c *client.Conn, sf *client.SecondFactorRequired) (*client.Token, error) {
	if !o.totpStdin {
		return nil, usageError{"this account has two-factor authentication on: pass --totp-stdin and the code on the line after the password"}
	}
	code, err := o.readLine("code")
	if err != nil {
		return nil, err
	}
	return c.LoginSecondFactor(ctx, sf.Challenge, client.CodeAnswer(code))
}

// reauthCode is the code passwd, email and delete send besides the
// password: --code, or with --totp-stdin the line after the
// password(s), read before dialling so stdin is taken in order.
func (o *options) reauthCode() (string, error) {
	switch {
	case o.code != "" && o.totpStdin:
		return "", usageError{"give one of --code and --totp-stdin"}
	case o.totpStdin:
		code, err := o.readLine("code")
		return strings.TrimSpace(code), err
	}
	return strings.TrimSpace(o.code), nil
}

// askCode returns code, or, when none was given and the account has two-
// factor authentication on, asks for one on the terminal. Without a
// terminal it says which flag to pass.
func (o *options) askCode(code string, factorOn bool) (string, error) {
	if code != "" || !factorOn {
		return code, nil
	}
	f, ok := o.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || o.passwordStdin {
		return "", usageError{"this account has two-factor authentication on: pass --code C, or --totp-stdin and the code on the line after the password"}
	}
	fmt.Fprint(o.stderr, "Code from your app, or a recovery code: ")
	line, err := o.readLine("code")
	return strings.TrimSpace(line), err
}

// factorCode is askCode for a change whose account is known by its
// token only: it asks the server whether the factor is on.
func (o *options) factorCode(ctx context.Context, c *client.Conn, tok, code string) (string, error) {
	if code != "" {
		return code, nil
	}
	id, err := c.Authenticate(ctx, tok)
	if err != nil {
		return "", err
	}
	return o.askCode(code, id.Account.SecondFactor)
}

// dialWithCode reads the second-factor code a change may need (after the
// password, see reauthCode), dials, and asks for the code when none was
// given and the token's account has the factor on. The caller closes
// the connection.
func (o *options) dialWithCode(ctx context.Context, tok string) (*client.Conn, string, error) {
	code, err := o.reauthCode()
	if err != nil {
		return nil, "", err
	}
	c, err := o.dial(ctx)
	if err != nil {
		return nil, "", err
	}
	if code, err = o.factorCode(ctx, c, tok, code); err != nil {
		c.Close()
		return nil, "", err
	}
	return c, code, nil
}

// codeArg is --code, or the next line of stdin.
func (o *options) codeArg() (string, error) {
	if o.code != "" {
		return o.code, nil
	}
	return o.readLine("code")
}

func (o *options) mfaEnable(ctx context.Context) error {
	tok, err := o.tokenArg()
	if err != nil {
		return err
	}
	password, err := o.password("Password")
	if err != nil {
		return err
	}
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	en, err := c.TOTPBegin(ctx, tok, password)
	if err != nil {
		return err
	}
	human := fmt.Sprintf("add this to your authenticator app, then run 'account mfa confirm --code C':\nuri:    %s\nsecret: %s",
		client.Printable(en.URI), client.Printable(en.Secret))
	return o.print(en, human)
}

func (o *options) mfaConfirm(ctx context.Context) error {
	if o.code == "" {
		return usageError{"--code is required: the code your authenticator app shows"}
	}
	return o.withToken(ctx, func(c *client.Conn, tok string) error {
		codes, err := c.TOTPConfirm(ctx, tok, o.code)
		if err != nil {
			return err
		}
		return o.printRecoveryCodes("two-factor authentication is on.", codes)
	})
}

func (o *options) mfaDisable(ctx context.Context) error {
	return o.withFactorChange(ctx, func(c *client.Conn, tok, password, code string) error {
		if err := c.TOTPDisable(ctx, tok, password, code); err != nil {
			return err
		}
		return o.print(map[string]bool{"enabled": false}, "two-factor authentication is off")
	})
}

func (o *options) mfaRecoveryCodes(ctx context.Context) error {
	return o.withFactorChange(ctx, func(c *client.Conn, tok, password, code string) error {
		codes, err := c.RegenerateRecoveryCodes(ctx, tok, password, code)
		if err != nil {
			return err
		}
		return o.printRecoveryCodes("new recovery codes; the old ones no longer work.", codes)
	})
}

// withFactorChange reads the token, the password and a code, in that
// order, dials, and runs f.
func (o *options) withFactorChange(ctx context.Context, f func(c *client.Conn, tok, password, code string) error) error {
	tok, err := o.tokenArg()
	if err != nil {
		return err
	}
	password, err := o.password("Password")
	if err != nil {
		return err
	}
	code, err := o.codeArg()
	if err != nil {
		return err
	}
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return f(c, tok, password, strings.TrimSpace(code))
}

func (o *options) printRecoveryCodes(intro string, codes []string) error {
	var b strings.Builder
	b.WriteString(intro + "\nrecovery codes (shown once: keep them safe; each works once in place of a code):\n")
	for _, rc := range codes {
		b.WriteString("  " + client.Printable(rc) + "\n")
	}
	return o.print(map[string][]string{"recovery_codes": codes}, strings.TrimSuffix(b.String(), "\n"))
}
