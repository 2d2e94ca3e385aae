package client

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/accountd/accountd/protocol"
)

// TrustStore decides whether a server's identity key is trusted.
type TrustStore interface {
	// Check returns nil when key is the key pinned for server,
	// ErrUnknownServer when nothing is pinned for it, and a
	// *KeyMismatchError when another key is pinned.
	Check(server string, key ed25519.PublicKey) error
	// Pin records key as server's identity key.
	Pin(server string, key ed25519.PublicKey) error
	// Repin replaces server's pinned key previous with current: the
	// server proved it holds both during its identity rotation (SPEC
	// §2.1). It returns nil when current is pinned already (another
	// connection moved it first) and a *KeyMismatchError when neither
	// is.
	Repin(server string, previous, current ed25519.PublicKey) error
}

// ErrUnknownServer is returned when a server's identity key is not pinned
// and the options do not allow trusting it on first use.
var ErrUnknownServer = errors.New("client: server identity not known")

// KeyMismatchError is returned when a server presents an identity key
// other than the pinned one: possibly a man-in-the-middle.
type KeyMismatchError struct {
	Server    string
	Pinned    string // fingerprint of the pinned key
	Presented string // fingerprint of the key the server presented
	File      string // the known-servers file, when there is one
	Line      int    // the line holding the pinned key
}

func (e *KeyMismatchError) Error() string {
	msg := fmt.Sprintf("client: server %s presented identity key %s, but %s is pinned: possible man-in-the-middle", e.Server, e.Presented, e.Pinned)
	if e.File != "" {
		msg += fmt.Sprintf(" (pinned at %s:%d)", e.File, e.Line)
	}
	return msg
}

// ImpersonationError is returned when a server announces an identity key
// but cannot sign the handshake with it: it is not the server that holds
// the key, for example a man-in-the-middle replaying the real server's
// messages with a leaked transport key. It unwraps to
// protocol.ErrBadSignature.
type ImpersonationError struct {
	Server      string
	Fingerprint string // of the identity key the server claimed
}

func (e *ImpersonationError) Error() string {
	return fmt.Sprintf("client: server %s claimed identity key %s but could not prove it holds it (bad handshake signature): possible man-in-the-middle", e.Server, e.Fingerprint)
}

// Unwrap returns protocol.ErrBadSignature.
func (e *ImpersonationError) Unwrap() error { return protocol.ErrBadSignature }

// InsecureFileError is returned when the known-servers file could have
// been written by someone else (on Unix: writable by group or others, or
// owned by another user). Such a file is not read: whoever can write it
// decides which servers are trusted.
//
// The device token file (DeviceTokenFile) is refused the same way, and
// also when group or others could read it; Kind says which file.
type InsecureFileError struct {
	Path    string
	Problem string // what is wrong, e.g. "is writable by group or others (mode 0666)"
	Fix     string // a command that fixes it
	Kind    string // "device tokens" for a DeviceTokenFile; "" for known servers
}

func (e *InsecureFileError) Error() string {
	if e.Kind != "" {
		return fmt.Sprintf("client: %s file %s %s: refusing to use it", e.Kind, e.Path, e.Problem)
	}
	return fmt.Sprintf("client: known servers file %s %s: refusing to trust its pins", e.Path, e.Problem)
}

// KnownServers is a TrustStore kept in a file, one line per server:
//
//	<host:port> ed25519 <base64 public key>
//
// Lines starting with # are comments. The file is created with mode 0600
// and its folder with 0700; a file that another user could have written is
// refused with *InsecureFileError. Safe for concurrent use, also by
// several processes: changes hold a lock file beside it
// (known_servers.lock), and Repin replaces the file atomically.
type KnownServers struct {
	Path string
	mu   sync.Mutex
}

// NewKnownServers returns the trust store at path.
func NewKnownServers(path string) *KnownServers { return &KnownServers{Path: path} }

// DefaultKnownServersPath is <user config dir>/accountd/known_servers.
func DefaultKnownServersPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "accountd", "known_servers"), nil
}

// maxKnownServers bounds the file read: a million pins is no real use.
const maxKnownServers = 64 << 20

type knownLine struct {
	server string
	key    ed25519.PublicKey
	line   int
}

func (k *KnownServers) read() ([]knownLine, error) {
	f, err := os.Open(k.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client: read known servers: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("client: read known servers: %w", err)
	}
	if err := checkPrivate(k.Path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKnownServers+1))
	if err != nil {
		return nil, fmt.Errorf("client: read known servers: %w", err)
	}
	if len(data) > maxKnownServers {
		return nil, fmt.Errorf("client: known servers file %s is over %d bytes", k.Path, maxKnownServers)
	}
	var out []knownLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[1] != "ed25519" {
			return nil, fmt.Errorf("client: %s:%d: want \"<server> ed25519 <key>\"", k.Path, n)
		}
		key, err := base64.StdEncoding.DecodeString(f[2])
		if err != nil || len(key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("client: %s:%d: bad ed25519 key", k.Path, n)
		}
		out = append(out, knownLine{server: f[0], key: key, line: n})
	}
	return out, sc.Err()
}

// Check implements TrustStore.
func (k *KnownServers) Check(server string, key ed25519.PublicKey) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	lines, err := k.read()
	if err != nil {
		return err
	}
	for _, l := range lines {
		if l.server != server {
			continue
		}
		if l.key.Equal(key) {
			return nil
		}
		return &KeyMismatchError{Server: server, Pinned: protocol.Fingerprint(l.key), Presented: protocol.Fingerprint(key), File: k.Path, Line: l.line}
	}
	return ErrUnknownServer
}

// lock takes the process's mutex and the lock file that orders changes
// across processes; the returned function releases both.
func (k *KnownServers) lock() (func(), error) {
	k.mu.Lock()
	if err := os.MkdirAll(filepath.Dir(k.Path), 0o700); err != nil {
		k.mu.Unlock()
		return nil, fmt.Errorf("client: known servers: %w", err)
	}
	release, err := lockFile(k.Path + ".lock")
	if err != nil {
		k.mu.Unlock()
		return nil, fmt.Errorf("client: known servers: %w", err)
	}
	return func() { release(); k.mu.Unlock() }, nil
}

// Pin implements TrustStore: it appends a line for server.
func (k *KnownServers) Pin(server string, key ed25519.PublicKey) error {
	if strings.ContainsAny(server, " \t\r\n#") {
		return fmt.Errorf("client: invalid server name %q", server)
	}
	unlock, err := k.lock()
	if err != nil {
		return err
	}
	defer unlock()
	f, err := os.OpenFile(k.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("client: known servers: %w", err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkPrivate(k.Path, fi)
	}
	if err != nil {
		f.Close()
		return err
	}
	line := fmt.Sprintf("%s ed25519 %s\n", server, base64.StdEncoding.EncodeToString(key))
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return fmt.Errorf("client: known servers: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("client: known servers: %w", err)
	}
	return f.Close()
}

// Repin implements TrustStore: it rewrites the file with server's line
// holding current instead of previous, every other line as it was, into a
// temporary file that then replaces it, so that a crash leaves either
// pin and never a damaged file.
func (k *KnownServers) Repin(server string, previous, current ed25519.PublicKey) error {
	unlock, err := k.lock()
	if err != nil {
		return err
	}
	defer unlock()
	lines, err := k.read()
	if err != nil {
		return err
	}
	target := 0
	for _, l := range lines {
		if l.server != server {
			continue
		}
		switch {
		case l.key.Equal(current):
			return nil
		case !l.key.Equal(previous):
			return &KeyMismatchError{Server: server, Pinned: protocol.Fingerprint(l.key), Presented: protocol.Fingerprint(current), File: k.Path, Line: l.line}
		}
		target = l.line
		break
	}
	if target == 0 {
		return ErrUnknownServer
	}
	data, err := os.ReadFile(k.Path)
	if err != nil {
		return fmt.Errorf("client: known servers: %w", err)
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		if n == target {
			fmt.Fprintf(&out, "%s ed25519 %s\n", server, base64.StdEncoding.EncodeToString(current))
			continue
		}
		out.Write(sc.Bytes())
		out.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("client: known servers: %w", err)
	}
	return replaceFile(k.Path, out.Bytes())
}

// replaceFile writes data to a new file beside path (mode 0600) and
// renames it over path.
func replaceFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("client: known servers: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("client: known servers: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("client: known servers: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("client: known servers: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("client: known servers: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("client: known servers: %w", err)
	}
	done = true
	return nil
}
