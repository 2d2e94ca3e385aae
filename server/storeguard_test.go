package server

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/accountd/accountd/store"
)

// flakyStore fails the first `fail` calls of GetSession and CreateSession
// with store.ErrUnavailable, and blocks in GetAccount until the context
// ends.
type flakyStore struct {
	store.Store
	fail          int
	reads, writes int
}

func (f *flakyStore) GetSession(ctx context.Context, id string) (store.Session, error) {
	f.reads++
	if f.reads <= f.fail {
		return store.Session{}, fmt.Errorf("get session: %w: connection reset", store.ErrUnavailable)
	}
	return store.Session{ID: id}, nil
}

func (f *flakyStore) CreateSession(ctx context.Context, s store.Session) error {
	f.writes++
	if f.writes <= f.fail {
		return fmt.Errorf("create session: %w: connection reset", store.ErrUnavailable)
	}
	return nil
}

func (f *flakyStore) GetAccount(ctx context.Context, id string) (store.Account, error) {
	<-ctx.Done()
	return store.Account{}, ctx.Err()
}

func TestGuardedStoreRetriesReads(t *testing.T) {
	f := &flakyStore{fail: readAttempts - 1}
	g := guardStore(f, 5*time.Second, nil)
	s, err := g.GetSession(t.Context(), "abc")
	if err != nil || s.ID != "abc" {
		t.Fatalf("read failing %d times on a broken connection: %v", readAttempts-1, err)
	}
	if f.reads != readAttempts {
		t.Fatalf("%d attempts, want %d", f.reads, readAttempts)
	}

	f = &flakyStore{fail: readAttempts}
	g = guardStore(f, 5*time.Second, nil)
	if _, err := g.GetSession(t.Context(), "abc"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("read failing every time: %v", err)
	}
	if f.reads != readAttempts {
		t.Fatalf("%d attempts, want %d", f.reads, readAttempts)
	}
}

func TestGuardedStoreNeverRepeatsWrites(t *testing.T) {
	f := &flakyStore{fail: 1}
	g := guardStore(f, 5*time.Second, nil)
	if err := g.CreateSession(t.Context(), store.Session{}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("write on a broken connection: %v", err)
	}
	if f.writes != 1 {
		t.Fatalf("write tried %d times, want once", f.writes)
	}
}

func TestGuardedStoreTimeout(t *testing.T) {
	g := guardStore(&flakyStore{}, 100*time.Millisecond, nil)
	begin := time.Now()
	_, err := g.GetAccount(t.Context(), "abc")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung read: %v", err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Fatalf("hung read returned after %v with a 100ms timeout", took)
	}
	if w, _ := toWire(err); w.Code != codeUnavailable {
		t.Fatalf("a timed-out store call goes out as %q, want %q", w.Code, codeUnavailable)
	}
}
