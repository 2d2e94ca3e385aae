package setup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"
)

// Admin password policy: long enough to resist offline guessing of a stolen
// config file, bounded so that hashing it stays cheap.
const (
	MinAdminPasswordLength = 12   // characters
	MaxAdminPasswordLength = 1024 // characters
)

// maxPasswordFileSize bounds ReadPasswordFile: 1024 characters of up to 4
// bytes each, a line ending, and room to spare.
const maxPasswordFileSize = 8 << 10

// CheckAdminPassword enforces the admin password policy: at least
// MinAdminPasswordLength and at most MaxAdminPasswordLength characters
// (Unicode code points). It does not apply to unlocking, so that a file
// sealed under an older policy still opens.
func CheckAdminPassword(password []byte) error {
	n := utf8.RuneCount(password)
	switch {
	case n == 0:
		return errors.New("setup: the admin password is empty")
	case n < MinAdminPasswordLength:
		return fmt.Errorf("setup: the admin password must be at least %d characters (it has %d)", MinAdminPasswordLength, n)
	case n > MaxAdminPasswordLength:
		return fmt.Errorf("setup: the admin password must be at most %d characters (it has %d)", MaxAdminPasswordLength, n)
	}
	return nil
}

// ReadPasswordFile reads an admin password from a file, such as a Docker
// secret. It strips one trailing "\n" or "\r\n" (what an editor or
// `echo` adds) and nothing else, and refuses an empty password or a file
// larger than 8 KiB.
func ReadPasswordFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("setup: read password file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPasswordFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("setup: read password file: %w", err)
	}
	if len(data) > maxPasswordFileSize {
		clear(data)
		return nil, fmt.Errorf("setup: password file %s is larger than %d bytes", path, maxPasswordFileSize)
	}
	if b, ok := bytes.CutSuffix(data, []byte("\r\n")); ok {
		data = b
	} else {
		data = bytes.TrimSuffix(data, []byte("\n"))
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("setup: password file %s is empty", path)
	}
	return data, nil
}
