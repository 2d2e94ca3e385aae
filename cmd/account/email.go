package main

import (
	"context"
	"fmt"

	"github.com/accountd/accountd/client"
)

func (o *options) verifyEmail(ctx context.Context) error {
	if o.code == "" {
		return usageError{"--code is required"}
	}
	if o.username != "" && (o.token != "" || o.tokenStdin) {
		return usageError{"give --username or a token, not both"}
	}
	var (
		a   *client.Account
		err error
	)
	if o.username != "" {
		c, err := o.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		a, err = c.VerifyEmailLogin(ctx, o.username, o.code)
		if err != nil {
			return err
		}
	} else {
		err = o.withToken(ctx, func(c *client.Conn, tok string) (err error) {
			a, err = c.VerifyEmail(ctx, tok, o.code)
			return err
		})
		if err != nil {
			return err
		}
	}
	return o.print(a, "email verified: "+client.Printable(a.Email))
}

func (o *options) resendVerification(ctx context.Context) error {
	return o.withToken(ctx, func(c *client.Conn, tok string) error {
		if err := c.ResendVerification(ctx, tok); err != nil {
			return err
		}
		return o.print(map[string]bool{"sent": true}, "a fresh code is on its way; the one before no longer works")
	})
}

func (o *options) forgotPassword(ctx context.Context) error {
	if o.loginName == "" {
		return usageError{"--login is required"}
	}
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.RequestPasswordReset(ctx, o.loginName); err != nil {
		return err
	}
	return o.print(map[string]bool{"requested": true},
		"if an account has that username or verified email, a code is on its way to its address (valid 10 minutes)\n"+
			"hint: run 'account reset-password --login "+client.Printable(o.loginName)+" --code CODE'")
}

func (o *options) resetPassword(ctx context.Context) error {
	if o.loginName == "" || o.code == "" {
		return usageError{"--login and --code are required"}
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
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	n, err := c.ResetPassword(ctx, o.loginName, o.code, next)
	if err != nil {
		return err
	}
	return o.print(map[string]int{"sessions_ended": n}, fmt.Sprintf("password reset; %d sessions ended; log in with the new password", n))
}
