package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/accountd/accountd/server/servertest"
)

// TestNoFolderLeftBehind: the generator's temporary folder is gone after
// a run, and after a run that could not reach its server.
func TestNoFolderLeftBehind(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	left := func(when string) {
		t.Helper()
		if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
			t.Fatalf("%s: %d entries left in the temporary folder, first %s", when, len(ents), ents[0].Name())
		}
	}
	if _, err := newBench(ctx, benchOptions{server: "127.0.0.1:1"}); err == nil {
		t.Fatal("a bench without a server started")
	}
	left("after a failed start")
	srv := servertest.MustStart(t, nil)
	b, err := newBench(ctx, benchOptions{server: srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 1 {
		t.Fatalf("%d entries in the temporary folder while running, want the generator's one", len(ents))
	}
	b.close()
	left("after close")
}

// TestScenariosRun: the token scenarios run against a real server and
// count operations without errors.
func TestScenariosRun(t *testing.T) {
	t.Parallel()
	srv := servertest.MustStart(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := newBench(ctx, benchOptions{server: srv.Addr, duration: 300 * time.Millisecond, maxOps: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	for _, s := range []string{"refresh", "verify"} {
		r, err := b.run(ctx, s, 2)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if r.Ops == 0 || len(r.Errors) > 0 {
			t.Errorf("%s: %d operations, errors %v; want some and none", s, r.Ops, r.Errors)
		}
	}
}
