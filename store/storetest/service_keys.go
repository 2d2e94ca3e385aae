package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/accountd/accountd/store"
)

func newServiceKey(name string, scopes ...string) store.ServiceKey {
	sum := sha256.Sum256([]byte(newID()))
	return store.ServiceKey{ID: newID(), Name: name, SecretHash: sum[:], Scopes: scopes, CreatedAt: t0}
}

// testServiceKeys: create, get, list in name order, a duplicate name
// refused, delete by name; each write leaves its audit event.
func testServiceKeys(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	shop := newServiceKey("shop", store.ScopeAdmin)
	game := newServiceKey("game")
	for _, k := range []store.ServiceKey{shop, game} {
		if err := s.CreateServiceKey(ctx, k, adminEvent(store.EventServiceKeyAdded, "", t0)); err != nil {
			t.Fatalf("create %s: %v", k.Name, err)
		}
	}
	got, err := s.GetServiceKey(ctx, shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(shop, got, cmpOpts...); diff != "" {
		t.Errorf("get (-want +got):\n%s", diff)
	}
	if !bytes.Equal(got.SecretHash, shop.SecretHash) {
		t.Errorf("secret hash %x, want %x", got.SecretHash, shop.SecretHash)
	}
	list, err := s.ListServiceKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.ServiceKey{game, shop}, list, cmpOpts...); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}

	dup := newServiceKey("shop")
	err = s.CreateServiceKey(ctx, dup, adminEvent(store.EventServiceKeyAdded, "", t0))
	var conflict *store.ConflictError
	if !errors.As(err, &conflict) || conflict.Field != "name" {
		t.Errorf("duplicate name: %v, want *store.ConflictError for name", err)
	}
	if _, err := s.GetServiceKey(ctx, dup.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused duplicate: get = %v, want ErrNotFound", err)
	}

	if err := s.DeleteServiceKey(ctx, "shop", adminEvent(store.EventServiceKeyRevoked, "", t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetServiceKey(ctx, shop.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get a deleted key: %v, want ErrNotFound", err)
	}
	if err := s.DeleteServiceKey(ctx, "shop", adminEvent(store.EventServiceKeyRevoked, "", t0)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete again: %v, want ErrNotFound", err)
	}
	events, err := s.ListAuthEvents(ctx, store.AuthEventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var added, revoked int
	for _, e := range events {
		switch e.Type {
		case store.EventServiceKeyAdded:
			added++
		case store.EventServiceKeyRevoked:
			revoked++
		}
	}
	if added != 2 || revoked != 1 {
		t.Errorf("audit: %d added and %d revoked events, want 2 and 1 (refused writes leave none)", added, revoked)
	}
}

// testServiceKeyInvalid: a key without a proper hash, or with an
// invalid event, is refused and not written.
func testServiceKeyInvalid(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	short := newServiceKey("short")
	short.SecretHash = short.SecretHash[:16]
	if err := s.CreateServiceKey(ctx, short, adminEvent(store.EventServiceKeyAdded, "", t0)); err == nil {
		t.Error("a 16-byte secret hash: no error")
	}
	noEvent := newServiceKey("noevent")
	if err := s.CreateServiceKey(ctx, noEvent, store.AuthEvent{}); err == nil {
		t.Error("no audit event: no error")
	}
	list, err := s.ListServiceKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("refused keys were written: %+v", list)
	}
}
