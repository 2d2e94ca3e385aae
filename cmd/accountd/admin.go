package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/accountd/accountd/setup"
	"github.com/accountd/accountd/store/sqlstore"
)

// parseWithArgs parses flags that may come before, between or after
// exactly want positional arguments, and returns those.
func parseWithArgs(fs *flag.FlagSet, args []string, want ...string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) > len(want) {
		return nil, usageError{fmt.Sprintf("unexpected argument %q", pos[len(want)])}
	}
	if len(pos) < len(want) {
		return nil, usageError{fmt.Sprintf("%s: missing %s", fs.Name(), want[len(pos)])}
	}
	return pos, nil
}

// subcommand splits "users list ..." into "list" and the rest.
func subcommand(name string, args []string, choices string) (string, []string, error) {
	if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		return "", nil, usageError{fmt.Sprintf("accountd %s: missing subcommand (%s)", name, choices)}
	}
	return args[0], args[1:], nil
}

// openStore opens the database the config names, with its tables up to
// date.
func openStore(ctx context.Context, cfg *setup.Config) (*sqlstore.DB, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db, err := sqlstore.Open(ctx, cfg.Database.Driver, cfg.Database.DSN)
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", cfg.Database.Driver, err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s store: %w", cfg.Database.Driver, err)
	}
	return db, nil
}

// passwdCmd re-seals the config under a new admin password.
func passwdCmd(ctx context.Context, args []string) error {
	fs := newFlagSet("accountd passwd")
	c := addCommon(fs)
	newFile := fs.String("new-password-file", os.Getenv("ACCOUNTD_NEW_ADMIN_PASSWORD_FILE"), "file holding the new admin password (env ACCOUNTD_NEW_ADMIN_PASSWORD_FILE); else it is asked for twice")
	if err := parse(fs, args); err != nil {
		return err
	}
	dir, err := c.resolveDataDir()
	if err != nil {
		return err
	}
	// Check the current password before asking for a new one.
	old, err := adminPassword(c.pwFile, false)
	if err != nil {
		return err
	}
	defer clear(old)
	if _, err := setup.Unlock(dir, old); err != nil {
		return withConfigPath(err, dir)
	}
	var pw []byte
	if *newFile != "" {
		pw, err = setup.ReadPasswordFile(*newFile)
	} else if stdinIsTerminal() {
		fmt.Fprintf(os.Stderr, "Choose the new admin password (at least %d characters).\n", setup.MinAdminPasswordLength)
		pw, err = askPassword("New admin password: ", true)
	} else {
		err = hintError{errors.New("no new admin password: stdin is not a terminal"), "pass --new-password-file FILE"}
	}
	if err != nil {
		return err
	}
	defer clear(pw)
	if err := setup.Reseal(dir, old, pw, setup.KDFParams{}); err != nil {
		return withConfigPath(err, dir)
	}
	fmt.Fprintf(os.Stderr, "The config in %s is sealed under the new admin password.\n", dir)
	return nil
}

// keysCmd: accountd keys list|rotate|rotate-master.
func keysCmd(ctx context.Context, args []string) error {
	sub, args, err := subcommand("keys", args, "list, rotate or rotate-master")
	if err != nil {
		return err
	}
	if sub == "rotate-master" {
		return rotateMasterCmd(ctx, args)
	}
	fs := newFlagSet("accountd keys " + sub)
	c := addCommon(fs)
	opts := defaultServeOptions()
	var atOnce *bool
	switch sub {
	case "list":
	case "rotate":
		// The same rotation settings as `accountd serve`, with the same
		// defaults: the lead must match what the servers expect.
		fs.DurationVar(&opts.keyLead, "key-publish-lead", opts.keyLead, "how long the new key is in the JWKS before it signs (as given to serve)")
		fs.DurationVar(&opts.jwksMaxAge, "jwks-max-age", opts.jwksMaxAge, "Cache-Control max-age of the JWKS (as given to serve)")
		atOnce = fs.Bool("at-once", false, "sign with the new key at once, e.g. when the current one is compromised; verifiers that cached the JWKS refuse its tokens until they fetch it again")
	default:
		return usageError{fmt.Sprintf("accountd keys: unknown subcommand %q (want list, rotate or rotate-master)", sub)}
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := opts.check(); err != nil {
		return err
	}
	svc, closeSvc, err := c.openService(ctx, opts)
	if err != nil {
		return err
	}
	defer closeSvc()
	if atOnce != nil {
		k, won, err := svc.RotateSigningKeys(ctx, *atOnce)
		if err != nil {
			return err
		}
		if !won {
			fmt.Printf("a rotation is already under way (another instance or command); the next key is %s\n", k.ID)
		} else {
			fmt.Printf("created signing key %s (%s, generation %d)\n", k.ID, k.Algorithm, k.Generation)
		}
		fmt.Printf("  running servers publish it at their next reload of the keys\n  signs from %s; the keys before it stop signing then\n", k.ActiveAt.Format(time.RFC3339))
		return nil
	}
	keys, err := svc.SigningKeys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALGORITHM\tCREATED\tSIGNS FROM\tSTATE")
	for _, ks := range keys {
		k := ks.Key
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.CreatedAt.Format(time.RFC3339), k.ActiveAt.Format(time.RFC3339), ks.State)
	}
	return tw.Flush()
}
