package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/store"
)

// accountJSON is an account as `users list|show --json` print it: never
// the password hash.
type accountJSON struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email,omitempty"`
	// PendingEmail waits for its owner to type the code mailed to it.
	PendingEmail string `json:"pending_email,omitempty"`
	Disabled     bool   `json:"disabled"`
	// FailedLogins is the consecutive failed logins that throttle or lock
	// the account; `users unlock` clears them.
	FailedLogins int `json:"failed_logins"`
	// SecondFactor is whether TOTP is on; `users reset-mfa` turns it off.
	SecondFactor bool      `json:"second_factor"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func toJSON(a store.Account) accountJSON {
	return accountJSON{ID: a.ID, Username: a.Username, Email: a.Email, PendingEmail: a.PendingEmail, Disabled: a.Disabled, FailedLogins: a.Failures.Count,
		SecondFactor: a.SecondFactor, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

func secondFactor(a store.Account) string {
	if a.SecondFactor {
		return "on (TOTP; 'accountd users reset-mfa' turns it off)"
	}
	return "off"
}

// emailColumn is the verified email, else the pending one marked so.
func emailColumn(a store.Account) string {
	if a.Email == "" && a.PendingEmail != "" {
		return display(a.PendingEmail) + " (unverified)"
	}
	if a.PendingEmail != "" {
		return display(a.Email) + " (changing to " + display(a.PendingEmail) + ", unverified)"
	}
	return display(a.Email)
}

func status(a store.Account) string {
	if a.Disabled {
		return "disabled"
	}
	return "active"
}

// sessionJSON is a session as `users sessions --json` prints it.
type sessionJSON struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"client_ip,omitempty"`
	Client     string    `json:"client,omitempty"`
}

// usersCmd: accountd users list|show|sessions|logout|disable|enable|delete|unlock|reset-mfa.
func usersCmd(ctx context.Context, args []string) error {
	const choices = "list, show, sessions, logout, disable, enable, delete, unlock or reset-mfa"
	sub, args, err := subcommand("users", args, choices)
	if err != nil {
		return err
	}
	fs := newFlagSet("accountd users " + sub)
	c := addCommon(fs)
	var asJSON, yes *bool
	var want []string
	switch sub {
	case "list":
		asJSON = fs.Bool("json", false, "print JSON")
	case "show", "sessions":
		asJSON = fs.Bool("json", false, "print JSON")
		want = []string{"USERNAME"}
	case "logout", "disable", "enable", "unlock", "reset-mfa":
		want = []string{"USERNAME"}
	case "delete":
		yes = fs.Bool("yes", false, "do not ask for confirmation")
		want = []string{"USERNAME"}
	default:
		return usageError{fmt.Sprintf("accountd users: unknown subcommand %q (want %s)", sub, choices)}
	}
	pos, err := parseWithArgs(fs, args, want...)
	if err != nil {
		return err
	}
	svc, closeSvc, err := c.openService(ctx, defaultServeOptions())
	if err != nil {
		return err
	}
	defer closeSvc()

	if sub == "list" {
		accounts, err := svc.ListAccounts(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]accountJSON, 0, len(accounts))
			for _, a := range accounts {
				out = append(out, toJSON(a))
			}
			return printJSON(out)
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tID\tEMAIL\tSTATUS\tCREATED")
		for _, a := range accounts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", display(a.Username), display(a.ID), emailColumn(a), status(a), a.CreatedAt.Format(time.RFC3339))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%d accounts\n", len(accounts))
		return nil
	}

	a, err := svc.FindAccount(ctx, pos[0])
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no account %q", pos[0])
	}
	if err != nil {
		return err
	}
	switch sub {
	case "show":
		if *asJSON {
			return printJSON(toJSON(a))
		}
		failures := strconv.Itoa(a.Failures.Count)
		if a.Failures.Count > 0 {
			failures += ", the last at " + a.Failures.LastAt.Format(time.RFC3339) + " ('accountd users unlock' clears them)"
		}
		fmt.Printf("username: %s\nid:       %s\nemail:    %s\nstatus:   %s\nfailed logins in a row: %s\ntwo-factor authentication: %s\ncreated:  %s\nupdated:  %s\n",
			display(a.Username), display(a.ID), emailColumn(a), status(a), failures, secondFactor(a), a.CreatedAt.Format(time.RFC3339), a.UpdatedAt.Format(time.RFC3339))
	case "sessions":
		return printSessions(ctx, svc, a, *asJSON)
	case "logout":
		n, err := svc.LogoutAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		fmt.Printf("logged out %s; revoked %d sessions\n", display(a.Username), n)
	case "disable":
		n, err := svc.DisableAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		fmt.Printf("disabled %s; revoked %d sessions\n", a.Username, n)
	case "enable":
		if err := svc.EnableAccount(ctx, a.ID); err != nil {
			return err
		}
		fmt.Printf("enabled %s\n", a.Username)
	case "reset-mfa":
		if !a.SecondFactor {
			return fmt.Errorf("%s has no second factor on", display(a.Username))
		}
		n, err := svc.ResetSecondFactor(ctx, a.ID)
		if err != nil {
			return err
		}
		fmt.Printf("turned two-factor authentication off for %s; revoked %d sessions\n", display(a.Username), n)
	case "unlock":
		n, err := svc.UnlockAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		fmt.Printf("unlocked %s; cleared %d failed logins\n", a.Username, n)
	case "delete":
		if !*yes {
			if !stdinIsTerminal() {
				return hintError{fmt.Errorf("not deleting %s without confirmation", a.Username), "pass --yes"}
			}
			fmt.Fprintf(os.Stderr, "Delete account %s (%s) and log out all its sessions? This cannot be undone. [y/N] ", a.Username, a.ID)
			line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
			if answer := strings.ToLower(strings.TrimSpace(line)); answer != "y" && answer != "yes" {
				fmt.Fprintln(os.Stderr, "Not deleted.")
				return exitError{code: 1}
			}
		}
		n, err := svc.DeleteAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		fmt.Printf("deleted %s; revoked %d sessions\n", a.Username, n)
	}
	return nil
}

// printSessions prints an account's live sessions, oldest first. The
// client description is the user's own text: it is quoted, so that it
// cannot pass for something else on the terminal.
func printSessions(ctx context.Context, svc *account.Service, a store.Account, asJSON bool) error {
	list, err := svc.AccountSessions(ctx, a.ID)
	if err != nil {
		return err
	}
	if asJSON {
		out := make([]sessionJSON, 0, len(list))
		for _, x := range list {
			out = append(out, sessionJSON{ID: x.ID, CreatedAt: x.CreatedAt, LastUsedAt: x.LastUsedAt, ExpiresAt: x.ExpiresAt, IP: x.IP, Client: x.Client})
		}
		return printJSON(out)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tCREATED\tLAST USED\tEXPIRES\tIP\tCLIENT")
	for _, x := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, x.CreatedAt.Format(time.RFC3339), x.LastUsedAt.Format(time.RFC3339),
			x.ExpiresAt.Format(time.RFC3339), display(x.IP), display(strconv.Quote(x.Client)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d live sessions of %s\n", len(list), display(a.Username))
	return nil
}

func printJSON(v any) error { return writeJSON(os.Stdout, v, true) }
