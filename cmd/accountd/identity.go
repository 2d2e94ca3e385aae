package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/accountd/accountd/setup"
)

// defaultIdentityOverlap is how long a rotated identity key is announced
// beside the new one: long enough for clients that connect monthly.
const defaultIdentityOverlap = 720 * time.Hour

// identityCmd: accountd identity show|rotate.
func identityCmd(ctx context.Context, args []string) error {
	sub, args, err := subcommand("identity", args, "show or rotate")
	if err != nil {
		return err
	}
	fs := newFlagSet("accountd identity " + sub)
	c := addCommon(fs)
	switch sub {
	case "show":
		if err := parse(fs, args); err != nil {
			return err
		}
		cfg, _, err := c.unlock()
		if err != nil {
			return err
		}
		showIdentity(os.Stdout, cfg, time.Now())
		return nil
	case "rotate":
		overlap := fs.Duration("overlap", defaultIdentityOverlap, "how long the old key is announced beside the new one, so that pinned clients move to it; 0: not at all (the old key may be compromised)")
		force := fs.Bool("force", false, "rotate although an earlier rotation's overlap still runs (clients still pinned to the oldest key then see a changed key)")
		if err := parse(fs, args); err != nil {
			return err
		}
		if *overlap < 0 {
			return usageError{"--overlap must not be negative"}
		}
		return rotateIdentity(ctx, c, *overlap, *force, os.Stdout)
	}
	return usageError{fmt.Sprintf("accountd identity: unknown subcommand %q (want show or rotate)", sub)}
}

// showIdentity prints the identity key's fingerprint and, during a
// rotation's overlap, the previous key's and when the overlap ends.
func showIdentity(out io.Writer, cfg *setup.Config, now time.Time) {
	fmt.Fprintf(out, "identity  %s\n", cfg.IdentityFingerprint())
	if len(cfg.PreviousIdentityKey) == 0 {
		fmt.Fprintln(out, "previous  none")
		return
	}
	until := cfg.PreviousIdentityUntil.UTC()
	fmt.Fprintf(out, "previous  %s, announced until %s (%s from now)\n",
		cfg.PreviousIdentityFingerprint(), until.Format(time.RFC3339), until.Sub(now).Round(time.Minute))
}

// rotateIdentity gives the config a new identity key under the config
// lock, the current one kept as previous for overlap; the change is on
// record in the audit log before it is sealed.
func rotateIdentity(ctx context.Context, c *common, overlap time.Duration, force bool, out io.Writer) error {
	dir, pw, err := c.setUpDirAndPassword()
	if err != nil {
		return err
	}
	defer clear(pw)
	var before string
	cfg, err := setup.UpdateConfig(dir, pw, func(cfg *setup.Config) error {
		before = cfg.IdentityFingerprint()
		if err := cfg.RotateIdentity(time.Now(), overlap, force); err != nil {
			return err
		}
		svc, closeSvc, err := openService(ctx, cfg, defaultServeOptions())
		if err != nil {
			return err
		}
		defer closeSvc()
		return svc.RecordConfigChange(ctx, "identity_key")
	})
	if errors.Is(err, setup.ErrIdentityOverlap) {
		return hintError{err, "wait for the overlap to end, or pass --force (clients still pinned to the previous key then see a changed key)"}
	}
	if err != nil {
		return withConfigPath(err, dir)
	}
	fmt.Fprintf(out, "identity key rotated: %s -> %s\n", before, cfg.IdentityFingerprint())
	if len(cfg.PreviousIdentityKey) != 0 {
		fmt.Fprintf(out, "servers announce %s beside it until %s: clients pinned to it that connect before then move to the new key by themselves\n",
			cfg.PreviousIdentityFingerprint(), cfg.PreviousIdentityUntil.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintln(out, "no overlap: pinned clients will refuse the new key as a changed key; give their users the new fingerprint to pin")
	}
	fmt.Fprintln(out, "running servers take the new key when they get SIGHUP (kill -HUP <pid>, docker kill -s HUP <container>) or restart")
	return nil
}
