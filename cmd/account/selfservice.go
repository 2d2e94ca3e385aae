package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/accountd/accountd/client"
)

// clientDescription names this program in the account's session list.
var clientDescription = "account (" + runtime.GOOS + ")"

// password reads one password: from the next line of stdin with
// --password-stdin, else from the terminal without echo. It never takes
// one from the command line.
func (o *options) password(prompt string) (string, error) {
	if o.passwordStdin {
		return o.readLine(strings.ToLower(prompt))
	}
	f, ok := o.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageError{"no terminal to read the password from: pass --password-stdin"}
	}
	fmt.Fprintf(o.stderr, "%s: ", prompt)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(o.stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if len(b) == 0 {
		return "", usageError{"no " + strings.ToLower(prompt) + " given"}
	}
	return string(b), nil
}

func (o *options) passwd(ctx context.Context) error {
	tok, err := o.tokenArg()
	if err != nil {
		return err
	}
	current, err := o.password("Current password")
	if err != nil {
		return err
	}
	next, err := o.password("New password")
	if err != nil {
		return err
	}
	if !o.passwordStdin {
		again, err := o.password("New password again")
		if err != nil {
			return err
		}
		if again != next {
			return usageError{"the new passwords differ"}
		}
	}
	c, code, err := o.dialWithCode(ctx, tok)
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.ChangePassword(ctx, client.ChangePasswordRequest{Token: tok, CurrentPassword: current, NewPassword: next, Code: code, KeepOtherSessions: o.keepSessions})
	if err != nil {
		return err
	}
	return o.print(r, fmt.Sprintf("password changed; %d other sessions ended\nnew token for this session:\n%s", r.SessionsEnded, r.Token))
}

func (o *options) sessions(ctx context.Context) error {
	return o.withToken(ctx, func(c *client.Conn, tok string) error {
		if o.revoke != "" {
			if err := c.RevokeSession(ctx, tok, o.revoke); err != nil {
				return err
			}
			return o.print(map[string]string{"revoked": o.revoke}, "ended session "+o.revoke)
		}
		list, err := c.Sessions(ctx, tok)
		if err != nil {
			return err
		}
		if o.json {
			return o.print(list, "")
		}
		tw := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SESSION\tCREATED\tLAST USED\tEXPIRES\tIP\tCLIENT")
		for _, s := range list {
			id := s.ID
			if s.Current {
				id += " *"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%q\n", id, s.CreatedAt.Local().Format(time.DateTime), s.LastUsedAt.Local().Format(time.DateTime),
				s.ExpiresAt.Local().Format(time.DateTime), s.ClientIP, s.Client)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(o.stderr, "* this session; 'account sessions --revoke ID' ends one")
		return nil
	})
}

func (o *options) changeEmail(ctx context.Context) error {
	if o.email == "" {
		return usageError{"--email is required"}
	}
	tok, err := o.tokenArg()
	if err != nil {
		return err
	}
	password, err := o.password("Password")
	if err != nil {
		return err
	}
	c, code, err := o.dialWithCode(ctx, tok)
	if err != nil {
		return err
	}
	defer c.Close()
	a, err := c.ChangeEmailWith(ctx, client.ChangeEmailRequest{Token: tok, Password: password, NewEmail: o.email, Code: code})
	if err != nil {
		return err
	}
	return o.print(a, "a code was mailed to "+client.Printable(a.PendingEmail)+"; the address is used once it is verified\n"+
		"hint: run 'account verify-email --code CODE' with the code from the mail")
}

func (o *options) deleteAccount(ctx context.Context) error {
	tok, err := o.tokenArg()
	if err != nil {
		return err
	}
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	id, err := c.Authenticate(ctx, tok)
	if err != nil {
		return err
	}
	name := id.Account.Username
	if !o.yes {
		f, ok := o.stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) || o.passwordStdin {
			return usageError{"not deleting " + name + " without confirmation: pass --yes"}
		}
		fmt.Fprintf(o.stderr, "This deletes account %s and all its sessions, and cannot be undone.\nType %s to confirm: ", name, name)
		line, err := o.readLine("confirmation")
		if err != nil || strings.TrimSpace(line) != name {
			return errors.New("not deleted: the name typed did not match")
		}
	}
	password, err := o.password("Password")
	if err != nil {
		return err
	}
	code, err := o.reauthCode()
	if err != nil {
		return err
	}
	if code, err = o.askCode(code, id.Account.SecondFactor); err != nil {
		return err
	}
	n, err := c.DeleteAccountWith(ctx, client.DeleteAccountRequest{Token: tok, Password: password, Code: code})
	if err != nil {
		return err
	}
	forgetSavedSession(c.Server(), tok)
	return o.print(map[string]any{"deleted": name, "sessions_ended": n}, fmt.Sprintf("deleted account %s; %d sessions ended", name, n))
}
