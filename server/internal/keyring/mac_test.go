package keyring

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"github.com/accountd/accountd/store"
)

// memStore keeps signing keys in memory.
type memStore struct {
	mu   sync.Mutex
	keys []store.SigningKey
}

func (m *memStore) ListSigningKeys(context.Context) ([]store.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.SigningKey(nil), m.keys...), nil
}

func (m *memStore) RotateSigningKey(_ context.Context, k store.SigningKey, retireAt, expiresAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.keys {
		if m.keys[i].RetireAt.IsZero() {
			m.keys[i].RetireAt, m.keys[i].ExpiresAt = retireAt, expiresAt
		}
	}
	m.keys = append(m.keys, k)
	return nil
}

func (m *memStore) SetSigningKeyMAC(_ context.Context, id string, mac []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.keys {
		if m.keys[i].ID == id && m.keys[i].MAC == nil {
			m.keys[i].MAC = mac
			return nil
		}
	}
	return store.ErrNotFound
}

func (m *memStore) ResealSigningKey(_ context.Context, id string, old, sealed, mac []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.keys {
		if m.keys[i].ID == id && string(m.keys[i].SealedPrivateKey) == string(old) {
			m.keys[i].SealedPrivateKey, m.keys[i].MAC = sealed, mac
			return nil
		}
	}
	return store.ErrNotFound
}

func testRing(t *testing.T, st *memStore, master []byte, now time.Time, refused *int) *Ring {
	return New(Config{
		Store: st, MasterKey: master, Algorithm: "PS256", Now: func() time.Time { return now },
		Policy:  Policy{Interval: 30 * 24 * time.Hour, Lead: 10 * time.Minute, Keep: time.Hour},
		Refused: func() { *refused++ },
	})
}

// legacyKey is a key as written before MACs: sealed under master, no MAC.
func legacyKey(t *testing.T, master []byte, id string, at time.Time, gen int64) store.SigningKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(priv)
	sealed, err := sealKey(master, id, pkcs8)
	if err != nil {
		t.Fatal(err)
	}
	return store.SigningKey{ID: id, Algorithm: "PS256", PublicKey: spki, SealedPrivateKey: sealed, CreatedAt: at, ActiveAt: at, Generation: gen}
}

// TestLegacyKeysAdopted: a key without a MAC whose private half opens
// under the master key is MACed and used; one sealed under another
// master key is refused, once, however often the ring reloads.
func TestLegacyKeysAdopted(t *testing.T) {
	t.Parallel()
	master, other := make([]byte, 32), make([]byte, 32)
	rand.Read(master)
	rand.Read(other)
	now := time.Now().UTC().Truncate(time.Microsecond)
	st := &memStore{keys: []store.SigningKey{
		legacyKey(t, master, "mine", now.Add(-time.Hour), 0),
		legacyKey(t, other, "theirs", now.Add(-time.Hour), 0),
	}}
	var refused int
	r := testRing(t, st, master, now, &refused)
	for range 3 {
		if err := r.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if !r.Has("mine") || r.Has("theirs") {
		t.Fatalf("ring holds mine: %v, theirs: %v; want only mine", r.Has("mine"), r.Has("theirs"))
	}
	if refused != 1 {
		t.Fatalf("refused %d times, want once", refused)
	}
	keys, _ := st.ListSigningKeys(context.Background())
	for _, k := range keys {
		if k.ID == "mine" && !checkMAC(master, k) {
			t.Fatal("the adopted key's MAC was not stored")
		}
		if k.ID == "theirs" && k.MAC != nil {
			t.Fatal("a refused key was given a MAC")
		}
	}
}

// TestMACCoversTrustedFields: changing any authenticated field of a key
// makes the ring refuse it.
func TestMACCoversTrustedFields(t *testing.T) {
	t.Parallel()
	master := make([]byte, 32)
	rand.Read(master)
	now := time.Now().UTC().Truncate(time.Microsecond)
	base := legacyKey(t, master, "k", now.Add(-time.Hour), 7)
	mac, err := keyMAC(master, base)
	if err != nil {
		t.Fatal(err)
	}
	base.MAC = mac
	other := legacyKey(t, master, "x", now, 0)
	for name, edit := range map[string]func(*store.SigningKey){
		"kid":        func(k *store.SigningKey) { k.ID = "k2" },
		"algorithm":  func(k *store.SigningKey) { k.Algorithm = "RS256" },
		"public key": func(k *store.SigningKey) { k.PublicKey = other.PublicKey },
		"created":    func(k *store.SigningKey) { k.CreatedAt = k.CreatedAt.Add(time.Microsecond) },
		"active":     func(k *store.SigningKey) { k.ActiveAt = k.ActiveAt.Add(-time.Hour) },
		"generation": func(k *store.SigningKey) { k.Generation++ },
	} {
		k := base
		edit(&k)
		if checkMAC(master, k) {
			t.Errorf("MAC still verifies after changing the %s", name)
		}
	}
	if !checkMAC(master, base) {
		t.Fatal("the untouched key fails its MAC")
	}
}

// TestRetireBoundedBySuccessor: clearing an old key's retire and expiry
// times in the database does not bring it back: the next authentic key's
// activation retires it, and it expires Keep later.
func TestRetireBoundedBySuccessor(t *testing.T) {
	t.Parallel()
	master := make([]byte, 32)
	rand.Read(master)
	now := time.Now().UTC().Truncate(time.Microsecond)
	old := legacyKey(t, master, "old", now.Add(-72*time.Hour), 1)
	next := legacyKey(t, master, "next", now.Add(-48*time.Hour), 2)
	for _, k := range []*store.SigningKey{&old, &next} {
		k.MAC, _ = keyMAC(master, *k)
	}
	// What an attacker left: the old key neither retired nor expiring.
	st := &memStore{keys: []store.SigningKey{old, next}}
	var refused int
	r := testRing(t, st, master, now, &refused)
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.Has("old") {
		t.Fatal("a key retired 48 h ago (Keep 1 h) is back in the ring after its times were cleared")
	}
	if s := r.signer(now); s == nil || s.rec.ID != "next" {
		t.Fatalf("signer = %v, want next", s)
	}
}

// TestVerifiesEndsAtExpiry: a key stops verifying the moment it expires
// (leaves the JWKS), without waiting for a reload.
func TestVerifiesEndsAtExpiry(t *testing.T) {
	t.Parallel()
	master := make([]byte, 32)
	rand.Read(master)
	now := time.Now().UTC().Truncate(time.Microsecond)
	k := legacyKey(t, master, "k", now.Add(-time.Hour), 1)
	k.RetireAt, k.ExpiresAt = now.Add(-time.Minute), now.Add(time.Second)
	next := legacyKey(t, master, "n", now.Add(-time.Minute), 2)
	for _, x := range []*store.SigningKey{&k, &next} {
		x.MAC, _ = keyMAC(master, *x)
	}
	var refused int
	r := testRing(t, &memStore{keys: []store.SigningKey{k, next}}, master, now, &refused)
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !r.Verifies("k", now) {
		t.Fatal("a published key does not verify")
	}
	if r.Verifies("k", now.Add(time.Second)) {
		t.Fatal("a key verifies at its expiry, before a reload")
	}
}
