package account

import (
	"testing"
	"time"

	"github.com/accountd/accountd/store"
)

// TestSessionView: entries age out; a read that began before an eviction
// is not stored (it may predate the revocation); ending an account drops
// its sessions and only them.
func TestSessionView(t *testing.T) {
	t.Parallel()
	now := time.Unix(2e9, 0)
	v := newSessionView(func() time.Time { return now })
	sess := func(id, account string) store.Session { return store.Session{ID: id, AccountID: account} }
	v.put(v.generation.Load(), sess("s1", "a"), store.Account{ID: "a"})
	v.put(v.generation.Load(), sess("s2", "a"), store.Account{ID: "a"})
	v.put(v.generation.Load(), sess("s3", "b"), store.Account{ID: "b"})
	if _, _, ok := v.get("s1"); !ok {
		t.Fatal("a fresh entry is missing")
	}

	gen := v.generation.Load()
	v.evict([]store.Revocation{{SessionID: "s1"}})
	if _, _, ok := v.get("s1"); ok {
		t.Fatal("an evicted session is still in the view")
	}
	v.put(gen, sess("s1", "a"), store.Account{ID: "a"})
	if _, _, ok := v.get("s1"); ok {
		t.Fatal("a read that began before the eviction was stored")
	}

	v.ended("a")
	if _, _, ok := v.get("s2"); ok {
		t.Fatal("a session of an ended account is still in the view")
	}
	if _, _, ok := v.get("s3"); !ok {
		t.Fatal("another account's session was dropped")
	}
	if len(v.byAccount["a"]) != 0 || len(v.entries) != 1 {
		t.Fatalf("view holds %d entries and %d of account a, want 1 and 0", len(v.entries), len(v.byAccount["a"]))
	}
	now = now.Add(sessionViewTTL)
	if _, _, ok := v.get("s3"); ok {
		t.Fatal("an entry older than the TTL was answered")
	}
}
