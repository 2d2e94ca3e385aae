package argon2id

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountd/accountd/server/internal/admission"
)

var cheap = Params{Time: 1, MemoryKiB: 64, Threads: 1}

func TestHashVerify(t *testing.T) {
	t.Parallel()
	h, err := Hash("correct horse battery staple", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("not a PHC string: %s", h)
	}
	if ok, rehash, err := Verify("correct horse battery staple", h, cheap); !ok || rehash || err != nil {
		t.Fatalf("right password: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
	if ok, _, err := Verify("correct horse battery stapl", h, cheap); ok || err != nil {
		t.Fatalf("wrong password: ok=%v err=%v", ok, err)
	}
	stronger := Params{Time: 2, MemoryKiB: 64, Threads: 1}
	if ok, rehash, _ := Verify("correct horse battery staple", h, stronger); !ok || !rehash {
		t.Fatalf("changed parameters: ok=%v rehash=%v, want both", ok, rehash)
	}
	if ok, rehash, _ := Verify("wrong", h, stronger); ok || rehash {
		t.Fatalf("a wrong password is never marked for rehash")
	}
	p, err := ParseParams(h)
	if err != nil || p != cheap {
		t.Fatalf("ParseParams = %+v, %v", p, err)
	}
}

func TestDummyNeverMatches(t *testing.T) {
	t.Parallel()
	d := Dummy(cheap)
	if p, err := ParseParams(d); err != nil || p != cheap {
		t.Fatalf("dummy parameters %+v, %v", p, err)
	}
	for _, pw := range []string{"", "password", d} {
		if ok, _, err := Verify(pw, d, cheap); ok || err != nil {
			t.Fatalf("Verify(%q, dummy) = %v, %v", pw, ok, err)
		}
	}
}

func TestMalformedHashes(t *testing.T) {
	t.Parallel()
	for _, h := range []string{
		"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // over MaxMemoryKiB
		"$argon2id$v=19$m=64,t=65,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",      // over MaxTime
		"$argon2id$v=19$m=64,t=1,p=0$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2Fs$aGFzaGhhc2hoYXNoaGFzaA", // salt too short
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",          // digest too short
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA$",
	} {
		if _, _, err := Verify("x", h, cheap); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q): %v, want ErrMalformed", h, err)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p  Params
		ok bool
	}{
		{Default, true}, {cheap, true},
		{Params{Time: 0, MemoryKiB: 64, Threads: 1}, false},
		{Params{Time: MaxTime + 1, MemoryKiB: 64, Threads: 1}, false},
		{Params{Time: 1, MemoryKiB: 31, Threads: 4}, false},
		{Params{Time: 1, MemoryKiB: MaxMemoryKiB + 1, Threads: 1}, false},
		{Params{Time: 1, MemoryKiB: 64, Threads: 0}, false},
	} {
		if err := tc.p.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.p, err, tc.ok)
		}
	}
}

// TestGateBounds checks that no more than n callers run at once and that
// a caller that cannot get a slot within the wait gets ErrBusy.
func TestGateBounds(t *testing.T) {
	t.Parallel()
	g := NewGate(admission.New(admission.Config{Slots: 4, Wait: 50 * time.Millisecond}).Class("argon2", admission.ClassConfig{Max: 2}))
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for _, client := range []string{"192.0.2.1", "192.0.2.2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.Do(context.Background(), client, 1024, func() { started <- struct{}{}; <-release })
		}()
	}
	<-started
	<-started
	if got := g.Running(); got != 2 {
		t.Fatalf("Running = %d, want 2", got)
	}
	if err := g.Do(context.Background(), "192.0.2.3", 1024, func() { t.Error("ran past the bound") }); !errors.Is(err, ErrBusy) {
		t.Fatalf("third caller: %v, want ErrBusy", err)
	}
	if got := g.Refusals(); got != 1 {
		t.Fatalf("Refusals = %d, want 1", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Do(ctx, "client", 1024, func() {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(release)
	wg.Wait()
	if g.Running() != 0 || g.Waiting() != 0 {
		t.Fatalf("after: running %d waiting %d", g.Running(), g.Waiting())
	}
}

func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("correct horse battery staple", Default); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h, err := Hash("correct horse battery staple", Default)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		Verify("correct horse battery staple", h, Default)
	}
}
