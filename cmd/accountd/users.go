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

	"github.com/accountd/accountd/store"
)

// accountJSON is an account as `users list|show --json` print it: never
// the password hash.
type accountJSON struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email,omitempty"`
	Disabled bool   `json:"disabled"`
	// FailedLogins is the consecutive failed logins that throttle or lock
	// the account; `users unlock` clears them.
	FailedLogins int       `json:"failed_logins"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func toJSON(a store.Account) accountJSON {
	return accountJSON{ID: a.ID, Username: a.Username, Email: a.Email, Disabled: a.Disabled, FailedLogins: a.Failures.Count, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

func status(a store.Account) string {
	if a.Disabled {
		return "disabled"
	}
	return "active"
}

// usersCmd: accountd users list|show|disable|enable|delete|unlock.
func usersCmd(ctx context.Context, args []string) error {
	const choices = "list, show, disable, enable, delete or unlock"
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
	case "show":
		asJSON = fs.Bool("json", false, "print JSON")
		want = []string{"USERNAME"}
	case "disable", "enable", "unlock":
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
	cfg, _, err := c.unlock()
	if err != nil {
		return err
	}
	svc, closeSvc, err := openService(ctx, cfg, defaultServeOptions())
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
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", display(a.Username), display(a.ID), display(a.Email), status(a), a.CreatedAt.Format(time.RFC3339))
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
		fmt.Printf("username: %s\nid:       %s\nemail:    %s\nstatus:   %s\nfailed logins in a row: %s\ncreated:  %s\nupdated:  %s\n",
			display(a.Username), display(a.ID), display(a.Email), status(a), failures, a.CreatedAt.Format(time.RFC3339), a.UpdatedAt.Format(time.RFC3339))
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

func printJSON(v any) error { return writeJSON(os.Stdout, v, true) }
