package account

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/accountd/accountd/server/internal/argon2id"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestDummyParamsFollowAccounts: unknown usernames get dummy hashes whose
// parameters are those of the accounts' hashes, in proportion; a name
// gets the same parameters at every try and on every instance (the same
// master key); fields out of Argon2's bounds are never used.
func TestDummyParamsFollowAccounts(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := sqltest.NewSQLite(t)
	cur := argon2id.Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}
	old := argon2id.Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}
	key := make([]byte, 32)
	rand.Read(key)

	d := newDummyHashes(key, cur)
	if err := d.refresh(ctx, st); err != nil {
		t.Fatal(err)
	}
	if p := d.paramsFor("nobody"); p != cur {
		t.Fatalf("no accounts: %+v, want the current parameters %+v", p, cur)
	}

	// Three accounts under the old parameters, one under the current,
	// and one whose stored hash claims parameters past the bounds.
	now := time.Now().UTC().Truncate(time.Microsecond)
	hashes := []string{argon2id.Dummy(old), argon2id.Dummy(old), argon2id.Dummy(old), argon2id.Dummy(cur),
		"$argon2id$v=19$m=65536,t=65,p=4$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA"}
	for i, h := range hashes {
		a := store.Account{ID: fmt.Sprintf("%032x", i+1), Username: fmt.Sprintf("user%d", i), PasswordHash: h, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateAccount(ctx, a, store.AuthEvent{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.refresh(ctx, st); err != nil {
		t.Fatal(err)
	}
	other := newDummyHashes(key, cur)
	if err := other.refresh(ctx, st); err != nil {
		t.Fatal(err)
	}
	const names = 2000
	var nOld int
	for i := range names {
		name := fmt.Sprintf("stranger%d", i)
		p := d.paramsFor(name)
		switch p {
		case old:
			nOld++
		case cur:
		default:
			t.Fatalf("%s: parameters %+v are neither the old nor the current ones", name, p)
		}
		if q := d.paramsFor(name); q != p {
			t.Fatalf("%s: %+v, then %+v", name, p, q)
		}
		if q := other.paramsFor(name); q != p {
			t.Fatalf("%s: %+v here, %+v on another instance", name, p, q)
		}
		if got, _ := argon2id.ParseParams(d.forUnknown(name)); got != p {
			t.Fatalf("%s: dummy hash has %+v, want %+v", name, got, p)
		}
	}
	// Three in four should be old: the binomial's standard deviation over
	// 2,000 names is under 1%, so 65–85% is a margin of over 10 of them.
	if f := float64(nOld) / names; f < 0.65 || f > 0.85 {
		t.Errorf("%.1f%% of unknown names got the old parameters, want about 75%%", 100*f)
	}
}

// TestDummyLike: a refused account's dummy has its own hash's
// parameters, and an unreadable hash gives the current ones.
func TestDummyLike(t *testing.T) {
	t.Parallel()
	cur := argon2id.Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}
	old := argon2id.Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}
	if p, _ := argon2id.ParseParams(dummyLike(argon2id.Dummy(old), cur)); p != old {
		t.Errorf("dummy like an old hash: %+v, want %+v", p, old)
	}
	if p, _ := argon2id.ParseParams(dummyLike("not a hash", cur)); p != cur {
		t.Errorf("dummy like an unreadable hash: %+v, want %+v", p, cur)
	}
}
