package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/accountd/accountd/store"
)

// testReseal: a master key rotation replaces a signing key's sealed
// private half and MAC, and a TOTP secret, only while they still hold
// the value it read; the secrets list in account id order, a page at a
// time.
func testReseal(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	k := rotationKey("key-reseal", 1, t0)
	k.MAC = []byte("mac before")
	if err := s.CreateSigningKey(ctx, k); err != nil {
		t.Fatalf("CreateSigningKey: %v", err)
	}
	if err := s.ResealSigningKey(ctx, k.ID, []byte("not what it holds"), []byte("sealed after"), []byte("mac after")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ResealSigningKey naming another sealed half = %v, want ErrNotFound", err)
	}
	if err := s.ResealSigningKey(ctx, k.ID, k.SealedPrivateKey, []byte("sealed after"), []byte("mac after")); err != nil {
		t.Fatalf("ResealSigningKey: %v", err)
	}
	if err := s.ResealSigningKey(ctx, k.ID, k.SealedPrivateKey, []byte("sealed again"), []byte("mac again")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ResealSigningKey with the value it replaced = %v, want ErrNotFound", err)
	}
	keys, err := s.ListSigningKeys(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("ListSigningKeys = %d keys, %v", len(keys), err)
	}
	got := keys[0]
	if string(got.SealedPrivateKey) != "sealed after" || string(got.MAC) != "mac after" || !bytes.Equal(got.PublicKey, k.PublicKey) || got.Generation != 1 {
		t.Fatalf("after the reseal: sealed %q, mac %q, generation %d; want only the sealed half and MAC changed", got.SealedPrivateKey, got.MAC, got.Generation)
	}

	var ids []string
	for _, name := range []string{"amy", "ben", "cat", "dan", "eve"} {
		a := mustCreateAccount(t, s, newAccount(name, ""))
		if err := s.BeginSecondFactor(ctx, store.SecondFactor{AccountID: a.ID, SealedSecret: []byte("sealed " + name), CreatedAt: t0}, store.AuthEvent{}); err != nil {
			t.Fatalf("BeginSecondFactor: %v", err)
		}
		ids = append(ids, a.ID)
	}
	mustCreateAccount(t, s, newAccount("nofactor", ""))
	slices.Sort(ids)
	var listed []string
	for after := ""; ; {
		page, err := s.ListSealedSecrets(ctx, after, 2)
		if err != nil {
			t.Fatalf("ListSealedSecrets: %v", err)
		}
		for _, f := range page {
			if want := mustGetFactor(t, s, f.AccountID); !bytes.Equal(f.SealedSecret, want.SealedSecret) || f.Enabled != want.Enabled {
				t.Fatalf("listed factor %+v, stored %+v", f, want)
			}
			listed = append(listed, f.AccountID)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].AccountID
	}
	if !slices.Equal(listed, ids) {
		t.Fatalf("ListSealedSecrets by pages of 2 = %v, want %v", listed, ids)
	}
	id := ids[0]
	old := mustGetFactor(t, s, id).SealedSecret
	if err := s.ResealSecondFactor(ctx, id, []byte("not what it holds"), []byte("resealed")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ResealSecondFactor naming another secret = %v, want ErrNotFound", err)
	}
	if err := s.ResealSecondFactor(ctx, id, old, []byte("resealed")); err != nil {
		t.Fatalf("ResealSecondFactor: %v", err)
	}
	if f := mustGetFactor(t, s, id); string(f.SealedSecret) != "resealed" {
		t.Fatalf("after the reseal the secret is %q", f.SealedSecret)
	}
	if err := s.ResealSecondFactor(ctx, newID(), old, []byte("resealed")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ResealSecondFactor for no factor = %v, want ErrNotFound", err)
	}
}
