package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/accountd/accountd/server/internal/keyring"
	"github.com/accountd/accountd/store"
)

// resealPage is how many TOTP secrets a master key rotation reads at a
// time.
const resealPage = 500

// openSecret opens an account's sealed TOTP secret under the master key,
// or under the previous one while a rotation is under way.
func (s *Service) openSecret(accountID string, sealed []byte) ([]byte, error) {
	secret, err := keyring.Open(s.cfg.MasterKey, secretPurpose(accountID), sealed)
	if err != nil && len(s.cfg.PreviousMasterKey) != 0 {
		secret, err = keyring.Open(s.cfg.PreviousMasterKey, secretPurpose(accountID), sealed)
	}
	return secret, err
}

// ResealCount says what ResealMasterKey did.
type ResealCount struct {
	// SigningKeys counts the signing keys.
	SigningKeys keyring.ResealCount
	// Secrets counts the TOTP secrets resealed, already under the
	// master key, and opening under neither key (left as they are).
	SecretsResealed, SecretsCurrent, SecretsUnreadable int
}

// Moved is how many rows this pass moved to the master key: a second
// pass that moves none shows that no server still seals under the
// previous key.
func (c ResealCount) Moved() int { return c.SigningKeys.Resealed + c.SecretsResealed }

// ResealMasterKey moves everything sealed under PreviousMasterKey to
// MasterKey: the signing keys (sealed private halves and MACs) and the
// TOTP secrets, one row at a time, each write naming the value it
// replaces so that a concurrent change is read again, never lost. Rows
// neither key opens are left alone and counted. It needs
// PreviousMasterKey.
func (s *Service) ResealMasterKey(ctx context.Context) (ResealCount, error) {
	var n ResealCount
	if len(s.cfg.PreviousMasterKey) == 0 {
		return n, errors.New("account: no previous master key to reseal from")
	}
	var err error
	if n.SigningKeys, err = s.keys.Reseal(ctx); err != nil {
		return n, fmt.Errorf("reseal signing keys: %w", err)
	}
	for after := ""; ; {
		page, err := s.store.ListSealedSecrets(ctx, after, resealPage)
		if err != nil {
			return n, fmt.Errorf("list totp secrets: %w", err)
		}
		for _, f := range page {
			if err := s.resealSecret(ctx, f, &n); err != nil {
				return n, fmt.Errorf("reseal totp secret of %s: %w", f.AccountID, err)
			}
		}
		if len(page) < resealPage {
			return n, nil
		}
		after = page[len(page)-1].AccountID
	}
}

// resealSecret reseals one TOTP secret, reading it again when it changed
// before the write (a new enrolment, or the factor turned off).
func (s *Service) resealSecret(ctx context.Context, f store.SecondFactor, n *ResealCount) error {
	for range 3 {
		purpose := secretPurpose(f.AccountID)
		if _, err := keyring.Open(s.cfg.MasterKey, purpose, f.SealedSecret); err == nil {
			n.SecretsCurrent++
			return nil
		}
		secret, err := keyring.Open(s.cfg.PreviousMasterKey, purpose, f.SealedSecret)
		if err != nil {
			s.log.Error("TOTP secret opens under neither master key; left as it is", "account", f.AccountID)
			n.SecretsUnreadable++
			return nil
		}
		sealed, err := keyring.Seal(s.cfg.MasterKey, purpose, secret)
		clear(secret)
		if err != nil {
			return err
		}
		err = s.store.ResealSecondFactor(ctx, f.AccountID, f.SealedSecret, sealed)
		if err == nil {
			n.SecretsResealed++
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if f, err = s.store.GetSecondFactor(ctx, f.AccountID); errors.Is(err, store.ErrNotFound) {
			return nil // turned off meanwhile
		} else if err != nil {
			return err
		}
	}
	return errors.New("changed under the reseal three times")
}
