package setup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withUserDir points the user config dir at a temporary folder.
func withUserDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", d)
	t.Setenv("HOME", d)
	return filepath.Join(d, "accountd")
}

func TestRememberDataDir(t *testing.T) {
	user := withUserDir(t)
	if d, err := RememberedDataDir(); err != nil || d != "" {
		t.Fatalf("nothing remembered yet: %q, %v", d, err)
	}
	dir, src, err := ResolveDataDir("", "")
	if err != nil || dir != user || src != FromDefault {
		t.Fatalf("ResolveDataDir = %q %q %v, want %q default", dir, src, err, user)
	}

	chosen := filepath.Join(t.TempDir(), "srv", "accountd")
	if err := RememberDataDir(chosen); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, filepath.Join(user, "data-dir")); m != 0o600 {
		t.Fatalf("location file mode %#o, want 0600", m)
	}
	if m := mode(t, user); m != 0o700 {
		t.Fatalf("user folder mode %#o, want 0700", m)
	}
	tests := []struct {
		flag, env, want, src string
	}{
		{"", "", chosen, FromRemembered},
		{"", "/from/env", "/from/env", FromEnv},
		{"/from/flag", "/from/env", "/from/flag", FromFlag},
	}
	for _, tt := range tests {
		dir, src, err := ResolveDataDir(tt.flag, tt.env)
		if err != nil || dir != tt.want || src != tt.src {
			t.Errorf("ResolveDataDir(%q, %q) = %q %q %v, want %q %q", tt.flag, tt.env, dir, src, err, tt.want, tt.src)
		}
	}
	// A relative flag becomes absolute.
	if dir, _, _ := ResolveDataDir("rel", ""); !filepath.IsAbs(dir) {
		t.Errorf("relative flag resolved to %q", dir)
	}
	// Remembering a relative path stores the absolute one.
	if err := RememberDataDir("rel"); err != nil {
		t.Fatal(err)
	}
	if d, _ := RememberedDataDir(); !filepath.IsAbs(d) || filepath.Base(d) != "rel" {
		t.Errorf("remembered %q", d)
	}
}

func TestRememberedDataDirGarbage(t *testing.T) {
	user := withUserDir(t)
	if err := os.MkdirAll(user, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{"", "\n", "relative/path\n", "/a\n/b\n", strings.Repeat("/x", 3000)} {
		if err := os.WriteFile(filepath.Join(user, "data-dir"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if d, err := RememberedDataDir(); err == nil {
			t.Errorf("content %.20q: got %q, want an error", content, d)
		}
		if _, _, err := ResolveDataDir("", ""); err == nil {
			t.Errorf("content %.20q: ResolveDataDir ignored a bad file", content)
		}
		// A flag does not read the file at all.
		if _, _, err := ResolveDataDir("/x", ""); err != nil {
			t.Errorf("flag with a bad file: %v", err)
		}
	}
}

func TestCheckDataDir(t *testing.T) {
	base := t.TempDir()
	if err := CheckDataDir(filepath.Join(base, "new", "deeper")); err != nil {
		t.Errorf("missing folder: %v", err)
	}
	if err := CheckDataDir(""); err == nil {
		t.Error("empty path accepted")
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckDataDir(file); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file: %v", err)
	}
	if err := CheckDataDir(filepath.Join(file, "under")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("under a file: %v", err)
	}
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckDataDir(open); !errors.Is(err, ErrInsecurePermissions) {
		t.Errorf("0755 folder: %v, want ErrInsecurePermissions", err)
	}
	closed := filepath.Join(base, "closed")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := CheckDataDir(closed); err != nil {
		t.Errorf("empty 0700 folder: %v", err)
	}
	if err := WriteConfigFile(ConfigPath(closed), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := CheckDataDir(closed); !errors.Is(err, ErrAlreadySetUp) {
		t.Errorf("set-up folder: %v, want ErrAlreadySetUp", err)
	}
	if names := listDir(t, base); len(names) != 3 {
		t.Errorf("CheckDataDir created something: %q", names)
	}
}
