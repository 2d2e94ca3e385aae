package keyring

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/accountd/accountd/store"
)

// TestReseal: with the previous master key beside the new one, the ring
// opens keys sealed under either; Reseal moves the authentic ones (MACed,
// or from before MACs with a matching private half) to the new key and
// leaves the others refused; a ring with the new key alone then holds
// exactly the authentic keys, and one with the previous key alone none.
func TestReseal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old, next, other := make([]byte, 32), make([]byte, 32), make([]byte, 32)
	rand.Read(old)
	rand.Read(next)
	rand.Read(other)
	now := time.Now().UTC().Truncate(time.Microsecond)
	junkMAC := legacyKey(t, old, "junk-mac", now.Add(-2*time.Hour), 0)
	junkMAC.MAC = make([]byte, 32)
	st := &memStore{keys: []store.SigningKey{
		legacyKey(t, old, "legacy", now.Add(-2*time.Hour), 0),
		legacyKey(t, other, "theirs", now.Add(-2*time.Hour), 0),
		junkMAC,
	}}
	var refused int
	first := testRing(t, st, old, now, &refused)
	if err := first.Load(ctx); err != nil {
		t.Fatal(err)
	}
	k, won, err := first.Rotate(ctx, false)
	if err != nil || !won {
		t.Fatalf("Rotate = %v, %v", won, err)
	}
	authentic := []string{"legacy", k.ID}

	refused = 0
	both := testRing(t, st, next, now, &refused)
	both.cfg.PreviousMasterKey = old
	if err := both.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, kid := range authentic {
		if !both.Has(kid) {
			t.Fatalf("with both master keys the ring lacks %s", kid)
		}
	}
	n, err := both.Reseal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != (ResealCount{Resealed: 2, Refused: 2}) {
		t.Fatalf("Reseal = %+v, want 2 resealed and 2 refused", n)
	}
	if n, err := both.Reseal(ctx); err != nil || n != (ResealCount{Current: 2, Refused: 2}) {
		t.Fatalf("second Reseal = %+v, %v; want 2 current and 2 refused", n, err)
	}

	refused = 0
	alone := testRing(t, st, next, now, &refused)
	if err := alone.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, kid := range authentic {
		if !alone.Has(kid) {
			t.Errorf("with the new master key alone the ring lacks %s", kid)
		}
	}
	if alone.Has("theirs") || alone.Has("junk-mac") || refused != 2 {
		t.Errorf("with the new master key alone: theirs %v, junk-mac %v, %d refused; want neither, 2 refused", alone.Has("theirs"), alone.Has("junk-mac"), refused)
	}
	previous := testRing(t, st, old, now, new(int))
	if err := previous.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, kid := range authentic {
		if previous.Has(kid) {
			t.Errorf("the previous master key alone still authenticates %s", kid)
		}
	}
}
