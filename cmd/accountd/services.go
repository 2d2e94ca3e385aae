package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/accountd/accountd/store"
)

// scopeList is a repeatable --scope flag; a value may list several
// scopes separated by commas.
type scopeList []string

func (s *scopeList) String() string { return strings.Join(*s, ",") }

func (s *scopeList) Set(v string) error {
	for _, sc := range strings.Split(v, ",") {
		if sc = strings.TrimSpace(sc); sc != "" {
			*s = append(*s, sc)
		}
	}
	return nil
}

// serviceJSON is a service key as `services list --json` prints it:
// never its secret, which is not stored.
type serviceJSON struct {
	Name      string    `json:"name"`
	ID        string    `json:"id"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
}

// servicesCmd: accountd services add|list|revoke.
func servicesCmd(ctx context.Context, args []string) error {
	const choices = "add, list or revoke"
	sub, args, err := subcommand("services", args, choices)
	if err != nil {
		return err
	}
	fs := newFlagSet("accountd services " + sub)
	c := addCommon(fs)
	var (
		asJSON *bool
		scopes scopeList
		want   []string
	)
	switch sub {
	case "add":
		fs.Var(&scopes, "scope", "a scope of the key: "+strings.Join(store.Scopes, ", ")+" (repeatable)")
		want = []string{"NAME"}
	case "list":
		asJSON = fs.Bool("json", false, "print JSON")
	case "revoke":
		want = []string{"NAME"}
	default:
		return usageError{fmt.Sprintf("accountd services: unknown subcommand %q (want %s)", sub, choices)}
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

	switch sub {
	case "add":
		key, k, err := svc.NewServiceKey(ctx, pos[0], scopes)
		if err != nil {
			return err
		}
		fmt.Println(key)
		fmt.Fprintf(os.Stderr, "service %s added (scopes: %s). The key above is shown only now: give it to the backend as a secret.\n",
			k.Name, scopeText(k.Scopes))
	case "list":
		keys, err := svc.ServiceKeys(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]serviceJSON, 0, len(keys))
			for _, k := range keys {
				out = append(out, serviceJSON{Name: k.Name, ID: k.ID, Scopes: append([]string{}, k.Scopes...), CreatedAt: k.CreatedAt})
			}
			return printJSON(out)
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tID\tSCOPES\tCREATED")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Name, k.ID, scopeText(k.Scopes), k.CreatedAt.Format(time.RFC3339))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%d service keys\n", len(keys))
	case "revoke":
		if err := svc.RevokeServiceKey(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Printf("service %s revoked: its key is refused from now on\n", pos[0])
	}
	return nil
}

func scopeText(scopes []string) string {
	if len(scopes) == 0 {
		return "-"
	}
	return strings.Join(scopes, ",")
}
