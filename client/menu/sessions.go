package menu

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SavedSessions keeps session tokens across runs (the --remember option):
// one file per server in Dir, mode 0600, in a folder of mode 0700. A
// token in a file is as good as a password until it expires or is logged
// out, which is why remembering is opt-in and logging out removes it.
type SavedSessions struct {
	Dir string
}

// SavedSession is what is kept for one server.
type SavedSession struct {
	Server    string    `json:"server"`
	Username  string    `json:"username"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// DefaultSessionsDir is <user config dir>/accountd/sessions.
func DefaultSessionsDir() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "accountd", "sessions"), nil
}

// maxSessionFile bounds what Load reads: a token is a few KiB.
const maxSessionFile = 64 << 10

// path is the file for server: its host:port with the characters a file
// name cannot hold replaced.
func (s *SavedSessions) path(server string) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, server)
	return filepath.Join(s.Dir, name+".json")
}

// Load returns the session saved for server, or nil when there is none.
func (s *SavedSessions) Load(server string) (*SavedSession, error) {
	p := s.path(server)
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %o); remove it and log in again", p, fi.Mode().Perm())
	}
	if fi.Size() > maxSessionFile {
		return nil, fmt.Errorf("%s is too large to be a saved session", p)
	}
	var saved SavedSession
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&saved); err != nil || saved.Token == "" {
		return nil, fmt.Errorf("%s is not a saved session", p)
	}
	if saved.Server != server {
		return nil, fmt.Errorf("%s holds a session for %s, not %s", p, saved.Server, server)
	}
	return &saved, nil
}

// Save writes the session for saved.Server atomically (a temporary file
// renamed over the old one), mode 0600.
func (s *SavedSessions) Save(saved SavedSession) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(saved, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.Dir, ".session-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename, there is nothing to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, s.path(saved.Server))
}

// Remove deletes the session saved for server; removing none is not an
// error.
func (s *SavedSessions) Remove(server string) error {
	err := os.Remove(s.path(server))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
