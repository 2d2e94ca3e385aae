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
// refused with *InsecureFileError. Safe for concurrent use within a
// process.
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

// Pin implements TrustStore: it appends a line for server.
func (k *KnownServers) Pin(server string, key ed25519.PublicKey) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if strings.ContainsAny(server, " \t\r\n#") {
		return fmt.Errorf("client: invalid server name %q", server)
	}
	if err := os.MkdirAll(filepath.Dir(k.Path), 0o700); err != nil {
		return fmt.Errorf("client: known servers: %w", err)
	}
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
