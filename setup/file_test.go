package setup

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mode returns the permission bits of path.
func mode(tb testing.TB, path string) fs.FileMode {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Mode().Perm()
}

// listDir returns the names in dir.
func listDir(tb testing.TB, dir string) []string {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := ConfigPath(dir)
	if want := filepath.Join(dir, "accountd.conf"); path != want {
		t.Fatalf("ConfigPath = %q, want %q", path, want)
	}
	if err := WriteConfigFile(path, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, path); m != 0o600 {
		t.Fatalf("new file mode %#o, want 0600", m)
	}
	// Replacing a file that was loosened gives a 0600 file again.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteConfigFile(path, []byte("second")); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, path); m != 0o600 {
		t.Fatalf("replaced file mode %#o, want 0600", m)
	}
	got, err := ReadConfigFile(path)
	if err != nil || string(got) != "second" {
		t.Fatalf("ReadConfigFile = %q, %v; want second", got, err)
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Fatalf("folder holds %q, want only the config", names)
	}
}

// TestWriteConfigFileFailure simulates a disk that fails at each step: the
// old file must stay whole and no temporary file may be left behind.
func TestWriteConfigFileFailure(t *testing.T) {
	boom := errors.New("simulated I/O error")
	t.Run("sync file", func(t *testing.T) {
		dir := t.TempDir()
		path := ConfigPath(dir)
		if err := WriteConfigFile(path, []byte("old")); err != nil {
			t.Fatal(err)
		}
		orig := syncFile
		syncFile = func(*os.File) error { return boom }
		t.Cleanup(func() { syncFile = orig })

		if err := WriteConfigFile(path, []byte("new")); !errors.Is(err, boom) {
			t.Fatalf("WriteConfigFile = %v, want the sync error", err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != "old" {
			t.Fatalf("after a failed write the file holds %q, %v; want old", got, err)
		}
		if names := listDir(t, dir); len(names) != 1 {
			t.Fatalf("folder holds %q, want only the old config", names)
		}
	})
	t.Run("rename", func(t *testing.T) {
		// A directory in the way makes the rename itself fail.
		dir := t.TempDir()
		path := ConfigPath(dir)
		if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := WriteConfigFile(path, []byte("new")); err == nil {
			t.Fatal("WriteConfigFile over a non-empty directory succeeded")
		}
		if names := listDir(t, dir); len(names) != 1 {
			t.Fatalf("folder holds %q, want no temporary file", names)
		}
	})
	t.Run("missing folder", func(t *testing.T) {
		path := ConfigPath(filepath.Join(t.TempDir(), "missing"))
		if err := WriteConfigFile(path, []byte("new")); err == nil {
			t.Fatal("WriteConfigFile into a missing folder succeeded")
		}
	})
	t.Run("read-only folder", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes into read-only folders")
		}
		dir := t.TempDir()
		path := ConfigPath(dir)
		if err := WriteConfigFile(path, []byte("old")); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		if err := WriteConfigFile(path, []byte("new")); err == nil {
			t.Fatal("WriteConfigFile into a read-only folder succeeded")
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != "old" {
			t.Fatalf("file holds %q, %v; want old", got, err)
		}
	})
}

func TestCreateConfigFileNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	path := ConfigPath(dir)
	if err := createConfigFile(path, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := createConfigFile(path, []byte("second")); !errors.Is(err, ErrAlreadySetUp) {
		t.Fatalf("second createConfigFile = %v, want ErrAlreadySetUp", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "first" {
		t.Fatalf("file holds %q, want first", got)
	}
	if m := mode(t, path); m != 0o600 {
		t.Fatalf("mode %#o, want 0600", m)
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Fatalf("folder holds %q, want only the config", names)
	}
}

func TestReadConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := ConfigPath(dir)

	_, err := ReadConfigFile(path)
	if !errors.Is(err, ErrNotSetUp) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v, want ErrNotSetUp and fs.ErrNotExist", err)
	}
	if err := WriteConfigFile(path, []byte("data")); err != nil {
		t.Fatal(err)
	}
	for _, m := range []fs.FileMode{0o640, 0o604, 0o620, 0o602, 0o666} {
		if err := os.Chmod(path, m); err != nil {
			t.Fatal(err)
		}
		_, err := ReadConfigFile(path)
		if !errors.Is(err, ErrInsecurePermissions) {
			t.Fatalf("mode %#o: %v, want ErrInsecurePermissions", m, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "chmod 600 "+path) || !strings.Contains(msg, "0"+octal(m)) {
			t.Fatalf("mode %#o: message %q lacks the mode or the fix", m, msg)
		}
	}
	for _, m := range []fs.FileMode{0o600, 0o400} {
		if err := os.Chmod(path, m); err != nil {
			t.Fatal(err)
		}
		if got, err := ReadConfigFile(path); err != nil || string(got) != "data" {
			t.Fatalf("mode %#o: %q, %v", m, got, err)
		}
	}

	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte{'x'}, MaxConfigFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConfigFile(big); !errors.Is(err, ErrMalformedConfig) {
		t.Fatalf("oversized file: %v, want ErrMalformedConfig", err)
	}
	if _, err := ReadConfigFile(dir); err == nil {
		t.Fatal("ReadConfigFile(a directory) succeeded")
	}
}

func octal(m fs.FileMode) string {
	const digits = "01234567"
	return string([]byte{digits[m>>6&7], digits[m>>3&7], digits[m&7]})
}

func TestEnsureDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "data")
	if err := EnsureDataDir(dir); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Fatalf("new data folder mode %#o, want 0700", m)
	}
	if err := EnsureDataDir(dir); err != nil {
		t.Fatalf("existing 0700 folder: %v", err)
	}

	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	err := EnsureDataDir(dir)
	if !errors.Is(err, ErrInsecurePermissions) || !strings.Contains(err.Error(), "chmod 700 "+dir) {
		t.Fatalf("0755 folder: %v, want ErrInsecurePermissions with the chmod fix", err)
	}
	if m := mode(t, dir); m != 0o755 {
		t.Fatalf("EnsureDataDir changed an existing folder to %#o", m)
	}

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := EnsureDataDir(file); err == nil {
		t.Fatal("EnsureDataDir(a file) succeeded")
	}
	if err := EnsureDataDir(""); err == nil {
		t.Fatal("EnsureDataDir(\"\") succeeded")
	}
}

// TestUnlockRefusesOpenDataDir: a data folder that group or others may
// enter is refused at unlock, before the config is read, with the fix.
func TestUnlockRefusesOpenDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := EnsureDataDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := WriteConfigFile(ConfigPath(dir), MustSeal(t, MustConfig(t))); err != nil {
		t.Fatal(err)
	}
	if _, err := Unlock(dir, testPassword); err != nil {
		t.Fatalf("private folder: %v", err)
	}
	for _, m := range []fs.FileMode{0o750, 0o705, 0o777} {
		if err := os.Chmod(dir, m); err != nil {
			t.Fatal(err)
		}
		_, err := Unlock(dir, testPassword)
		if !errors.Is(err, ErrInsecurePermissions) || !strings.Contains(err.Error(), "chmod 700 "+dir) {
			t.Errorf("folder mode %#o: %v, want ErrInsecurePermissions with the chmod fix", m, err)
		}
	}
}
