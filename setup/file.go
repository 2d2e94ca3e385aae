package setup

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Errors about the data folder and the config file. Compare with errors.Is.
var (
	// ErrNotSetUp is returned by ReadConfigFile and Unlock when there is no
	// config file yet; the first run (Run, or the wizard) creates it. The
	// error also matches fs.ErrNotExist.
	ErrNotSetUp = errors.New("setup: accountd is not set up yet")
	// ErrInsecurePermissions is returned when the config file or the data
	// folder is open to group or others. The message names the mode and
	// the chmod that fixes it.
	ErrInsecurePermissions = errors.New("setup: insecure permissions")
)

// ConfigFileName is the name of the sealed config file in the data folder.
const ConfigFileName = "accountd.conf"

// MaxConfigFileSize is the largest config file ReadConfigFile and
// OpenConfig accept. A real one is under 1 KiB.
const MaxConfigFileSize = 1 << 20

// ConfigPath returns the path of the sealed config file in dataDir.
func ConfigPath(dataDir string) string {
	return filepath.Join(dataDir, ConfigFileName)
}

// IsSetUp reports whether dataDir holds a config file.
func IsSetUp(dataDir string) (bool, error) {
	_, err := os.Lstat(ConfigPath(dataDir))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("setup: %w", err)
	}
}

// Unlock reads the config file in dataDir and opens it with password. It
// returns ErrNotSetUp when there is no config file,
// ErrInsecurePermissions when the data folder is open to group or
// others, and otherwise the errors of ReadConfigFile and OpenConfig.
func Unlock(dataDir string, password []byte) (*Config, error) {
	if ok, err := IsSetUp(dataDir); err == nil && ok {
		// The folder holds the embedded database too: a folder others can
		// write lets them swap its files.
		if err := checkPrivateDir(dataDir); err != nil {
			return nil, err
		}
	}
	data, err := ReadConfigFile(ConfigPath(dataDir))
	if err != nil {
		return nil, err
	}
	return OpenConfig(data, password)
}

// EnsureDataDir creates dir, and its missing parents, with mode 0700. An
// existing dir is accepted only if it is a directory closed to group and
// others: EnsureDataDir does not chmod it, because the folder may be
// shared (pointing the data folder at /tmp must not lock others out of
// /tmp). The ErrInsecurePermissions error says how to fix it.
func EnsureDataDir(dir string) error {
	if dir == "" {
		return errors.New("setup: data folder is empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("setup: create data folder: %w", err)
	}
	return checkPrivateDir(dir)
}

// checkPrivateDir accepts dir only if it is a directory closed to group
// and others; the ErrInsecurePermissions error says how to fix it.
func checkPrivateDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("setup: data folder: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("setup: data folder %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: data folder %s has mode %#o, open to group or others\nhint: run `chmod 700 %s`, or choose another folder",
			ErrInsecurePermissions, dir, perm, dir)
	}
	return nil
}

// ReadConfigFile reads a sealed config file. It refuses a file larger than
// MaxConfigFileSize, a file that is not a regular file, and a file with
// any permission for group or others (ErrInsecurePermissions). It returns
// ErrNotSetUp when the file does not exist.
func ReadConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", ErrNotSetUp, err)
		}
		return nil, fmt.Errorf("setup: read config: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("setup: read config: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("setup: read config: %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: config file %s has mode %#o, open to group or others\nhint: run `chmod 600 %s`",
			ErrInsecurePermissions, path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("setup: read config: %w", err)
	}
	if len(data) > MaxConfigFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrMalformedConfig, path, MaxConfigFileSize)
	}
	return data, nil
}

// WriteConfigFile atomically replaces (or creates) the file at path with
// data, mode 0600: it writes a temporary file in the same folder, syncs
// it, renames it over path and syncs the folder. On an error before the
// rename the old file, if any, is left as it was and the temporary file is
// removed; only a failed sync of the folder is reported after the rename.
func WriteConfigFile(path string, data []byte) error {
	return writeAtomic(path, data, os.Rename)
}

// createConfigFile is WriteConfigFile that never replaces an existing
// file: it returns ErrAlreadySetUp instead.
func createConfigFile(path string, data []byte) error {
	return writeAtomic(path, data, func(tmp, path string) error {
		err := os.Link(tmp, path)
		if err == nil {
			return os.Remove(tmp)
		}
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s exists", ErrAlreadySetUp, path)
		}
		// A file system without hard links: check, then rename.
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%w: %s exists", ErrAlreadySetUp, path)
		}
		return os.Rename(tmp, path)
	})
}

// Hooks for tests that simulate a failing disk.
var (
	syncFile = (*os.File).Sync
	syncDir  = func(dir string) error {
		d, err := os.Open(dir)
		if err != nil {
			return err
		}
		defer d.Close()
		return d.Sync()
	}
)

// writeAtomic writes data to a temporary file beside path and moves it
// into place with install.
func writeAtomic(path string, data []byte, install func(tmp, path string) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("setup: write config: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp uses 0600 already; say so in case that ever changes.
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("setup: write config: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("setup: write config: %w", err)
	}
	if err := syncFile(f); err != nil {
		return fmt.Errorf("setup: write config: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("setup: write config: %w", err)
	}
	if err := install(tmp, path); err != nil {
		if errors.Is(err, ErrAlreadySetUp) {
			return err
		}
		return fmt.Errorf("setup: write config: %w", err)
	}
	// The file is in place; a failed folder sync only means the rename
	// may not survive a power cut, which the caller should still hear of.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("setup: write config: sync folder: %w", err)
	}
	return nil
}
