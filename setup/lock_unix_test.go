//go:build unix

package setup

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestUpdateConfigConcurrent: eight changes at once, each adding its own
// allowed origin while it holds the config open, all survive. Without
// the lock each reads the same config and the last write wins.
func TestUpdateConfigConcurrent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := EnsureDataDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := WriteConfigFile(ConfigPath(dir), MustSeal(t, MustConfig(t))); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := UpdateConfig(dir, testPassword, func(c *Config) error {
				c.Server.AllowedOrigins = append(c.Server.AllowedOrigins, fmt.Sprintf("app%d.example", i))
				// Hold the config open long enough for the others to
				// read it too, were they not waiting.
				time.Sleep(20 * time.Millisecond)
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := Unlock(dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(cfg.Server.AllowedOrigins))
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("app%d.example", i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("allowed origins after %d concurrent changes: %v, want %v", n, got, want)
	}
	if m := mode(t, filepath.Join(dir, LockFileName)); m != 0o600 {
		t.Errorf("lock file mode %#o, want 0600", m)
	}
}
