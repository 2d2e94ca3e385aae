//go:build unix

package client

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKnownServersPermissions(t *testing.T) {
	key := make(ed25519.PublicKey, ed25519.PublicKeySize)
	for _, tt := range []struct {
		name    string
		mode    os.FileMode
		problem string // "" when the file is accepted
	}{
		{"private", 0o600, ""},
		{"readable by others", 0o644, ""},
		{"group-writable", 0o620, "writable by group or others (mode 0620)"},
		{"world-writable", 0o606, "writable by group or others (mode 0606)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "known_servers")
			if err := os.WriteFile(path, []byte("example.com:443 ed25519 "+strings.Repeat("A", 43)+"=\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // not subject to the umask
				t.Fatal(err)
			}
			ks := NewKnownServers(path)
			checkErr := ks.Check("example.com:443", key)
			pinErr := ks.Pin("other.example:443", key)
			if tt.problem == "" {
				if checkErr != nil || pinErr != nil {
					t.Fatalf("Check: %v, Pin: %v", checkErr, pinErr)
				}
				return
			}
			for _, err := range []error{checkErr, pinErr} {
				var ie *InsecureFileError
				if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.problem) || ie.Fix != "chmod 600 "+path {
					t.Fatalf("got %v, want *InsecureFileError saying %q", err, tt.problem)
				}
			}
			if data, _ := os.ReadFile(path); strings.Contains(string(data), "other.example") {
				t.Fatal("Pin wrote to a file others can write")
			}
		})
	}
	t.Run("owned by another user", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "known_servers")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		me := os.Getuid()
		currentUID = func() int { return me + 1 }
		t.Cleanup(func() { currentUID = os.Getuid })
		err := NewKnownServers(path).Check("example.com:443", key)
		var ie *InsecureFileError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "not by you") {
			t.Fatalf("got %v, want *InsecureFileError about the owner", err)
		}
	})
	t.Run("created 0600 in a 0700 folder", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "new", "known_servers")
		if err := NewKnownServers(path).Pin("example.com:443", key); err != nil {
			t.Fatal(err)
		}
		for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
			fi, err := os.Stat(p)
			if err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: %v %v, want mode %04o", p, fi.Mode(), err, want)
			}
		}
	})
}
