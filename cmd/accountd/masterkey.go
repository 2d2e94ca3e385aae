package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/accountd/accountd/setup"
)

// rotateMasterCmd: accountd keys rotate-master.
func rotateMasterCmd(ctx context.Context, args []string) error {
	fs := newFlagSet("accountd keys rotate-master")
	c := addCommon(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	dir, pw, err := c.setUpDirAndPassword()
	if err != nil {
		return err
	}
	defer clear(pw)
	return withConfigPath(rotateMaster(ctx, dir, pw, defaultServeOptions(), os.Stdout), dir)
}

// rotateMaster replaces the master key of the config in dir in three
// steps, each leaving a state that servers start from and that a second
// run completes: the config gets a new master key and keeps the previous
// one; every row sealed under the previous key is resealed under the new
// one; the config drops the previous key. The database is never sealed
// under a key the config does not hold.
func rotateMaster(ctx context.Context, dir string, pw []byte, opts serveOptions, out io.Writer) error {
	cfg, resumed, err := beginMasterRotation(dir, pw)
	if err != nil {
		return err
	}
	if resumed {
		fmt.Fprintln(out, "resuming the master key rotation begun earlier")
	} else {
		fmt.Fprintln(out, "the config holds a new master key, and the previous one until every row is resealed")
	}
	svc, closeSvc, err := openService(ctx, cfg, opts)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			closeSvc()
		}
	}()
	if err := svc.RecordConfigChange(ctx, "master_key"); err != nil {
		return err
	}
	n, err := svc.ResealMasterKey(ctx)
	if err != nil {
		return hintError{fmt.Errorf("reseal: %w", err), "the config holds both master keys, so servers start and work; run accountd keys rotate-master again to finish"}
	}
	fmt.Fprintf(out, "resealed %d signing keys (%d were already under the new key) and %d TOTP secrets (%d already)\n",
		n.SigningKeys.Resealed, n.SigningKeys.Current, n.SecretsResealed, n.SecretsCurrent)
	if n.SigningKeys.Refused > 0 {
		fmt.Fprintf(out, "warning: %d signing keys are authenticated by neither master key: left as they are, never used (written with database access alone?)\n", n.SigningKeys.Refused)
	}
	if n.SecretsUnreadable > 0 {
		fmt.Fprintf(out, "warning: %d TOTP secrets open under neither master key: left as they are; their accounts need `accountd users reset-mfa`\n", n.SecretsUnreadable)
	}
	// A second pass that moves nothing shows that no server still seals
	// under the previous key, which the config is about to forget.
	again, err := svc.ResealMasterKey(ctx)
	if err != nil {
		return fmt.Errorf("reseal: %w", err)
	}
	if again.Moved() > 0 {
		return hintError{
			fmt.Errorf("%d rows were sealed under the previous master key during the rotation: a server started before it is still running", again.Moved()),
			"stop or restart every server, then run accountd keys rotate-master again to finish (the config keeps both keys meanwhile)",
		}
	}
	closeSvc()
	closed = true
	if err := finishMasterRotation(dir, pw, cfg.MasterKey); err != nil {
		return err
	}
	fmt.Fprintln(out, "the previous master key is gone from the config; start the servers (or restart those running)")
	return nil
}

// beginMasterRotation gives the config in dir a new master key and keeps
// the current one as PreviousMasterKey, unless a rotation is under way
// already (resumed). It returns the config as it now is.
func beginMasterRotation(dir string, pw []byte) (cfg *setup.Config, resumed bool, err error) {
	cfg, err = setup.UpdateConfig(dir, pw, func(c *setup.Config) error {
		if len(c.PreviousMasterKey) != 0 {
			resumed = true
			return nil
		}
		key := make([]byte, setup.MasterKeySize)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		c.PreviousMasterKey, c.MasterKey = c.MasterKey, key
		return nil
	})
	return cfg, resumed, err
}

// finishMasterRotation drops the previous master key from the config in
// dir, provided its master key is still master.
func finishMasterRotation(dir string, pw, master []byte) error {
	_, err := setup.UpdateConfig(dir, pw, func(c *setup.Config) error {
		if subtle.ConstantTimeCompare(c.MasterKey, master) != 1 {
			return errors.New("the master key changed during the rotation (another rotate-master?); run it again")
		}
		c.PreviousMasterKey = nil
		return nil
	})
	return err
}
