package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/accountd/accountd/store"
)

func newDevice(accountID string, at time.Time, secret string) store.Device {
	h := sha256.Sum256([]byte(secret))
	return store.Device{ID: newID(), AccountID: accountID, SecretHash: h[:], CreatedAt: at, LastLoginAt: at}
}

func mustGetDevice(t *testing.T, s store.Store, id string) store.Device {
	t.Helper()
	d, err := s.GetDevice(ctxFor(t), id)
	if err != nil {
		t.Fatalf("GetDevice(%q): %v", id, err)
	}
	return d
}

// testDevices: a device is stored, found, renewed with a new secret and
// a cleared counter, kept only among the account's most recent, refused
// for another account or a missing one, and its failures count apart
// from the account's; a login from it keeps the account's counter, and
// an unlock clears both.
func testDevices(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	b := mustCreateAccount(t, s, newAccount("bob", ""))
	d := newDevice(a.ID, t0, "one")
	if _, err := s.GetDevice(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetDevice before PutDevice = %v, want store.ErrNotFound", err)
	}
	if err := s.PutDevice(ctx, d, 3); err != nil {
		t.Fatalf("PutDevice: %v", err)
	}
	got := mustGetDevice(t, s, d.ID)
	if got.AccountID != a.ID || !bytes.Equal(got.SecretHash, d.SecretHash) || !got.CreatedAt.Equal(t0) || !got.LastLoginAt.Equal(t0) || got.Failures.Count != 0 {
		t.Fatalf("GetDevice = %+v, want %+v", got, d)
	}

	// Failures on the device, not on the account.
	for i := 1; i <= 3; i++ {
		f, err := s.RecordDeviceFailure(ctx, d.ID, failure(a.ID, t0.Add(time.Duration(i)*time.Second)))
		if err != nil || f.Count != i || !f.LastAt.Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("RecordDeviceFailure %d = %+v, %v", i, f, err)
		}
	}
	if n := mustGetAccount(t, s, a.ID).Failures.Count; n != 0 {
		t.Fatalf("device failures moved the account's counter to %d", n)
	}
	if got := eventTypes(t, s, a.ID); len(got) != 3 {
		t.Fatalf("events after 3 device failures: %v", got)
	}
	if _, err := s.RecordDeviceFailure(ctx, d.ID, failure(b.ID, t0)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RecordDeviceFailure for another account = %v, want store.ErrNotFound", err)
	}
	if _, err := s.RecordDeviceFailure(ctx, newID(), failure(a.ID, t0)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RecordDeviceFailure for no device = %v, want store.ErrNotFound", err)
	}
	if got := eventTypes(t, s, b.ID); len(got) != 0 {
		t.Fatalf("a refused device failure wrote events %v", got)
	}

	// A login from the device keeps the account's counter (strangers'
	// failures); one from a new device clears it.
	if _, err := s.RecordLoginFailure(ctx, failure(a.ID, t0)); err != nil {
		t.Fatal(err)
	}
	known := newSession(a.ID)
	known.DeviceID = d.ID
	mustCreateSession(t, s, known)
	if got, err := s.GetSession(ctx, known.ID); err != nil || got.DeviceID != d.ID {
		t.Fatalf("GetSession = %+v, %v; want device %s", got, err, d.ID)
	}
	if n := mustGetAccount(t, s, a.ID).Failures.Count; n != 1 {
		t.Fatalf("a login from a known device changed the account's counter to %d, want 1", n)
	}
	fresh := newSession(a.ID)
	fresh.DeviceID = newID()
	mustCreateSession(t, s, fresh)
	if n := mustGetAccount(t, s, a.ID).Failures.Count; n != 0 {
		t.Fatalf("a login from a new device left the account's counter at %d", n)
	}

	// Renewal: new secret, counter cleared, id and creation kept.
	renewed := newDevice(a.ID, t0.Add(time.Hour), "two")
	renewed.ID = d.ID
	if err := s.PutDevice(ctx, renewed, 3); err != nil {
		t.Fatalf("PutDevice renewing: %v", err)
	}
	got = mustGetDevice(t, s, d.ID)
	if !bytes.Equal(got.SecretHash, renewed.SecretHash) || !got.LastLoginAt.Equal(renewed.LastLoginAt) || !got.CreatedAt.Equal(t0) ||
		got.Failures != (store.LoginFailures{}) {
		t.Fatalf("after renewal: %+v", got)
	}

	// Another account cannot take the id, nor can a missing one.
	stolen := newDevice(b.ID, t0, "three")
	stolen.ID = d.ID
	if err := s.PutDevice(ctx, stolen, 3); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutDevice of another account's id = %v, want store.ErrNotFound", err)
	}
	if got := mustGetDevice(t, s, d.ID); got.AccountID != a.ID || !bytes.Equal(got.SecretHash, renewed.SecretHash) {
		t.Fatalf("the refused PutDevice changed the device: %+v", got)
	}
	if err := s.PutDevice(ctx, newDevice(newID(), t0, "x"), 3); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutDevice for no account = %v, want store.ErrNotFound", err)
	}

	// Only the 3 most recent stay.
	var ids []string
	for i := range 3 {
		n := newDevice(a.ID, t0.Add(time.Duration(2+i)*time.Hour), fmt.Sprint(i))
		if err := s.PutDevice(ctx, n, 3); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, n.ID)
	}
	if _, err := s.GetDevice(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the least recent device was kept beyond 3: %v", err)
	}
	for _, id := range ids {
		mustGetDevice(t, s, id)
	}

	// Unlock clears the devices' counters too.
	if _, err := s.RecordDeviceFailure(ctx, ids[0], failure(a.ID, t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordLoginFailure(ctx, failure(a.ID, t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResetLoginFailures(ctx, a.ID, store.AuthEvent{}); err != nil {
		t.Fatal(err)
	}
	if f := mustGetDevice(t, s, ids[0]).Failures; f != (store.LoginFailures{}) {
		t.Fatalf("device failures after an unlock: %+v", f)
	}

	// Deleting the account deletes its devices.
	if _, err := s.DeleteAccount(ctx, a.ID, ownerEvent(store.EventDeleted, store.ReasonSelf, a.ID, "", t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDevice(ctx, ids[0]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted account's device: %v", err)
	}
}

// testConcurrentDeviceFailures: concurrent failures on one device each
// count, and each caller sees its own count.
func testConcurrentDeviceFailures(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	d := newDevice(a.ID, t0, "one")
	if err := s.PutDevice(ctxFor(t), d, 3); err != nil {
		t.Fatal(err)
	}
	counts := make([]int, concurrency)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range concurrency {
		wg.Go(func() {
			<-start
			f, err := s.RecordDeviceFailure(ctxFor(t), d.ID, failure(a.ID, t0.Add(time.Duration(i)*time.Second)))
			if err != nil {
				t.Errorf("RecordDeviceFailure: %v", err)
			}
			counts[i] = f.Count
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(counts)
	for i, n := range counts {
		if n != i+1 {
			t.Fatalf("counts returned to %d concurrent callers = %v, want 1..%d each once", concurrency, counts, concurrency)
		}
	}
	if got := mustGetDevice(t, s, d.ID).Failures.Count; got != concurrency {
		t.Errorf("Failures.Count = %d, want %d", got, concurrency)
	}
}
