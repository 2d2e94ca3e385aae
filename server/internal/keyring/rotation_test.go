package keyring

import (
	"crypto/rsa"
	"testing"
	"time"

	"github.com/accountd/accountd/store"
)

// TestDescribeTieBreak: of two keys that became active at the same moment
// and may both sign, the higher generation signs, whatever their order in
// the list; Describe picks the key the ring signs with.
func TestDescribeTieBreak(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := now.Add(-time.Hour)
	key := func(id string, gen int64, alg string) store.SigningKey {
		return store.SigningKey{ID: id, Algorithm: alg, CreatedAt: at, ActiveAt: at, Generation: gen}
	}
	g1, g2 := key("g1", 1, "PS256"), key("g2", 2, "PS256")
	rs3 := key("rs3", 3, "RS256")
	for _, tt := range []struct {
		name   string
		keys   []store.SigningKey
		signer string
		others State
	}{
		{"lower generation first", []store.SigningKey{g1, g2}, "g2", StateVerifying},
		{"higher generation first", []store.SigningKey{g2, g1}, "g2", StateVerifying},
		// The newest key signs whatever its algorithm: an algorithm
		// change takes effect at the next rotation, on every instance.
		{"highest generation of another algorithm", []store.SigningKey{rs3, g1}, "rs3", StateVerifying},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Describe(tt.keys, now)
			if len(got) != len(tt.keys) {
				t.Fatalf("%d states for %d keys", len(got), len(tt.keys))
			}
			for i, ks := range got {
				if ks.Key.ID != tt.keys[i].ID {
					t.Fatalf("state %d is of key %s, want %s: the order changed", i, ks.Key.ID, tt.keys[i].ID)
				}
				want := tt.others
				if ks.Key.ID == tt.signer {
					want = StateSigning
				}
				if ks.State != want {
					t.Errorf("key %s (generation %d) is %q, want %q", ks.Key.ID, ks.Key.Generation, ks.State, want)
				}
			}
			// The ring picks the same key: the keys' private halves are
			// loaded (signer needs only that there is one).
			r := &Ring{cfg: Config{Algorithm: "PS256"}, keys: map[string]*ringKey{}}
			for _, k := range tt.keys {
				r.keys[k.ID] = &ringKey{rec: k, priv: &rsa.PrivateKey{}}
			}
			signer := "no key"
			if s := r.signer(now); s != nil {
				signer = s.rec.ID
			}
			if signer != tt.signer {
				t.Fatalf("the ring signs with %s, want %s as Describe says", signer, tt.signer)
			}
		})
	}
}

// TestDescribeStates gives each state its case, at one moment.
func TestDescribeStates(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := time.Hour
	keys := []store.SigningKey{
		// Signed until an hour ago; published until its tokens expire.
		{ID: "verifying", Algorithm: "PS256", ActiveAt: now.Add(-3 * h), RetireAt: now.Add(-h), ExpiresAt: now.Add(h), Generation: 1},
		{ID: "signing", Algorithm: "PS256", ActiveAt: now.Add(-h), Generation: 2},
		// A next key, published before it signs.
		{ID: "pending", Algorithm: "PS256", ActiveAt: now.Add(h), Generation: 3},
		// Retired before it would have signed (an immediate rotation
		// overtook it).
		{ID: "superseded", Algorithm: "PS256", ActiveAt: now.Add(h), RetireAt: now.Add(-time.Minute), ExpiresAt: now.Add(2 * h), Generation: 4},
		{ID: "expired", Algorithm: "PS256", ActiveAt: now.Add(-9 * h), RetireAt: now.Add(-3 * h), ExpiresAt: now.Add(-2 * h)},
	}
	want := map[string]State{
		"verifying": StateVerifying, "signing": StateSigning, "pending": StatePending,
		"superseded": StateSuperseded, "expired": StateExpired,
	}
	for _, ks := range Describe(keys, now) {
		if ks.State != want[ks.Key.ID] {
			t.Errorf("key %s is %q, want %q", ks.Key.ID, ks.State, want[ks.Key.ID])
		}
	}
}
