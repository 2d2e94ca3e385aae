package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/accountd/accountd/protocol"
)

// DeviceTokens keeps the device tokens a client got from completed
// logins, one per server and username (SPEC §5.4.6). A login presents
// the kept token, so that the server counts this device's failures
// apart from strangers': someone guessing the account's password
// elsewhere cannot throttle or lock out this device.
//
// server is the host:port the identity key is pinned under; username is
// as typed (implementations compare it lower-cased, as the server
// does). A device token is a secret: keep it like a session token.
type DeviceTokens interface {
	// DeviceToken returns the token kept for server and username, or ""
	// when there is none.
	DeviceToken(server, username string) (string, error)
	// SetDeviceToken keeps token for server and username, replacing any
	// earlier one.
	SetDeviceToken(server, username, token string) error
}

func deviceKey(server, username string) string {
	return server + " " + strings.ToLower(username)
}

// checkDeviceEntry refuses what the server could not have sent or a
// file line could not hold.
func checkDeviceEntry(server, username, token string) error {
	if server == "" || username == "" || strings.ContainsAny(server+username, " \t\r\n#") {
		return fmt.Errorf("client: device token: invalid server %q or username %q", server, username)
	}
	if token == "" || len(token) > protocol.MaxDeviceTokenLength {
		return fmt.Errorf("client: device token: empty or over %d characters", protocol.MaxDeviceTokenLength)
	}
	for i := 0; i < len(token); i++ {
		if token[i] <= ' ' || token[i] > '~' {
			return errors.New("client: device token: not printable ASCII")
		}
	}
	return nil
}

// MemoryDeviceTokens keeps device tokens in memory, for the life of the
// process: what a Client uses when Options.DeviceTokens is nil. Safe for
// concurrent use.
type MemoryDeviceTokens struct {
	mu     sync.Mutex
	tokens map[string]string
}

// NewMemoryDeviceTokens returns an empty MemoryDeviceTokens.
func NewMemoryDeviceTokens() *MemoryDeviceTokens {
	return &MemoryDeviceTokens{tokens: map[string]string{}}
}

// DeviceToken implements DeviceTokens.
func (m *MemoryDeviceTokens) DeviceToken(server, username string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tokens[deviceKey(server, username)], nil
}

// SetDeviceToken implements DeviceTokens.
func (m *MemoryDeviceTokens) SetDeviceToken(server, username, token string) error {
	if err := checkDeviceEntry(server, username, token); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens[deviceKey(server, username)] = token
	return nil
}

// DeviceTokenFile keeps device tokens in a file, one line per server
// and username:
//
//	<host:port> <username> <device token>
//
// Lines starting with # are comments. The file is written whole to a
// temporary file and renamed over the old one, with mode 0600 in a
// folder of mode 0700; on Unix a file that group or others could read,
// or that another user owns, is refused with *InsecureFileError. Safe
// for concurrent use within a process.
type DeviceTokenFile struct {
	Path string
	mu   sync.Mutex
}

// NewDeviceTokenFile returns the device token store at path.
func NewDeviceTokenFile(path string) *DeviceTokenFile { return &DeviceTokenFile{Path: path} }

// DefaultDeviceTokensPath is <user config dir>/accountd/device_tokens,
// beside known_servers.
func DefaultDeviceTokensPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "accountd", "device_tokens"), nil
}

// maxDeviceTokenFile bounds the file read.
const maxDeviceTokenFile = 1 << 20

func (d *DeviceTokenFile) read() (map[string]string, []string, error) {
	tokens, order := map[string]string{}, []string{}
	f, err := os.Open(d.Path)
	if errors.Is(err, os.ErrNotExist) {
		return tokens, order, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("client: read device tokens: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("client: read device tokens: %w", err)
	}
	if err := checkSecretFile(d.Path, fi); err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxDeviceTokenFile+1))
	if err != nil {
		return nil, nil, fmt.Errorf("client: read device tokens: %w", err)
	}
	if len(data) > maxDeviceTokenFile {
		return nil, nil, fmt.Errorf("client: device token file %s is over %d bytes", d.Path, maxDeviceTokenFile)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || checkDeviceEntry(f[0], f[1], f[2]) != nil {
			return nil, nil, fmt.Errorf("client: %s:%d: want \"<server> <username> <device token>\"", d.Path, n)
		}
		k := deviceKey(f[0], f[1])
		if _, seen := tokens[k]; !seen {
			order = append(order, k)
		}
		tokens[k] = f[2]
	}
	return tokens, order, sc.Err()
}

// DeviceToken implements DeviceTokens.
func (d *DeviceTokenFile) DeviceToken(server, username string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	tokens, _, err := d.read()
	if err != nil {
		return "", err
	}
	return tokens[deviceKey(server, username)], nil
}

// SetDeviceToken implements DeviceTokens.
func (d *DeviceTokenFile) SetDeviceToken(server, username, token string) error {
	if err := checkDeviceEntry(server, username, token); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	tokens, order, err := d.read()
	if err != nil {
		return err
	}
	k := deviceKey(server, username)
	if _, seen := tokens[k]; !seen {
		order = append(order, k)
	}
	tokens[k] = token
	var b strings.Builder
	b.WriteString("# accountd device tokens: <server> <username> <token>. Secret: keep this file private.\n")
	for _, k := range order {
		fmt.Fprintf(&b, "%s %s\n", k, tokens[k])
	}
	return writePrivateFile(d.Path, []byte(b.String()))
}

// writePrivateFile replaces path with data, mode 0600, through a
// temporary file in the same folder (mode 0700 when created), so that a
// crash leaves the old file or the new one, never half of one.
func writePrivateFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("client: device tokens: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("client: device tokens: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("client: device tokens: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("client: device tokens: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("client: device tokens: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("client: device tokens: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("client: device tokens: %w", err)
	}
	return nil
}
