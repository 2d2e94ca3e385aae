package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accountd/accountd/store"
)

func rotationKey(id string, generation int64, created time.Time) store.SigningKey {
	return store.SigningKey{
		ID:               id,
		Algorithm:        "PS256",
		PublicKey:        []byte("public " + id),
		SealedPrivateKey: []byte("sealed " + id),
		CreatedAt:        created,
		ActiveAt:         created.Add(10 * time.Minute),
		Generation:       generation,
	}
}

func testRotateSigningKey(t *testing.T, s store.Store) {
	// A key from before generations, already retired: left alone.
	retired := rotationKey("key-retired", 0, t0.Add(-72*time.Hour))
	retired.RetireAt = t0.Add(-48 * time.Hour)
	retired.ExpiresAt = t0.Add(-47 * time.Hour)
	// A key from before generations, still signing.
	legacy := rotationKey("key-legacy", 0, t0.Add(-24*time.Hour))
	for _, k := range []store.SigningKey{retired, legacy} {
		if err := s.CreateSigningKey(ctxFor(t), k); err != nil {
			t.Fatalf("CreateSigningKey(%q): %v", k.ID, err)
		}
	}

	first := rotationKey("key-gen1", 1, t0)
	retireAt, expiresAt := first.ActiveAt, first.ActiveAt.Add(time.Hour)
	if err := s.RotateSigningKey(ctxFor(t), first, retireAt, expiresAt); err != nil {
		t.Fatalf("RotateSigningKey(generation 1): %v", err)
	}
	legacy.RetireAt, legacy.ExpiresAt = retireAt, expiresAt

	// The same generation again: refused, and nothing changes.
	again := rotationKey("key-gen1-again", 1, t0.Add(time.Minute))
	err := s.RotateSigningKey(ctxFor(t), again, t0.Add(time.Hour), t0.Add(2*time.Hour))
	var conflict *store.ConflictError
	if !errors.As(err, &conflict) || conflict.Field != "generation" || !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("RotateSigningKey with a taken generation = %v, want *store.ConflictError{Field: \"generation\"}", err)
	}

	keys, err := s.ListSigningKeys(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []store.SigningKey{retired, legacy, first}
	if diff := cmp.Diff(want, keys, cmpOpts...); diff != "" {
		t.Errorf("after rotation (-want +got):\n%s", diff)
	}

	// The next generation retires generation 1 only.
	second := rotationKey("key-gen2", 2, t0.Add(time.Hour))
	r2, e2 := second.ActiveAt, second.ActiveAt.Add(time.Hour)
	if err := s.RotateSigningKey(ctxFor(t), second, r2, e2); err != nil {
		t.Fatalf("RotateSigningKey(generation 2): %v", err)
	}
	first.RetireAt, first.ExpiresAt = r2, e2
	keys, err = s.ListSigningKeys(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	want = []store.SigningKey{retired, legacy, first, second}
	if diff := cmp.Diff(want, keys, cmpOpts...); diff != "" {
		t.Errorf("after second rotation (-want +got):\n%s", diff)
	}
}

// testConcurrentRotateSameGeneration: several writers rotating to the same
// generation at once write exactly one key.
func testConcurrentRotateSameGeneration(t *testing.T, s store.Store) {
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := rotationKey(fmt.Sprintf("key-racer-%d", i), 7, t0)
			errs[i] = s.RotateSigningKey(ctxFor(t), k, k.ActiveAt, k.ActiveAt.Add(time.Hour))
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, store.ErrAlreadyExists):
		default:
			t.Errorf("writer %d: %v", i, err)
		}
	}
	keys, err := s.ListSigningKeys(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	if won != 1 || len(keys) != 1 {
		t.Fatalf("%d writers succeeded and %d keys exist, want exactly 1 of each", won, len(keys))
	}
}
