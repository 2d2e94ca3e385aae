package setup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DataDirEnv is the environment variable that names the data folder; the
// --data-dir flag overrides it.
const DataDirEnv = "ACCOUNTD_DATA_DIR"

// locationFileName is the file, in the user's accountd config folder,
// that remembers which data folder the setup chose.
const locationFileName = "data-dir"

// maxLocationFileSize bounds the remembered path (PATH_MAX is 4096).
const maxLocationFileSize = 4096

// Sources of the data folder, as ResolveDataDir reports them.
const (
	FromFlag       = "flag"
	FromEnv        = "env"
	FromRemembered = "remembered"
	FromDefault    = "default"
)

// UserDir returns <user config dir>/accountd (on Linux
// $XDG_CONFIG_HOME/accountd, else ~/.config/accountd): the default data
// folder, and where the chosen data folder is remembered.
func UserDir() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("setup: %w", err)
	}
	return filepath.Join(d, "accountd"), nil
}

// LocationFile returns the path of the file that remembers the data
// folder: UserDir()/data-dir.
func LocationFile() (string, error) {
	d, err := UserDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, locationFileName), nil
}

// RememberDataDir records the absolute path of dataDir in LocationFile, so
// that later runs find it without flags. The file is written atomically
// with mode 0600; its folder is created with 0700 if missing.
func RememberDataDir(dataDir string) error {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("setup: remember data folder: %w", err)
	}
	path, err := LocationFile()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("setup: remember data folder: %w", err)
	}
	if err := writeAtomic(path, []byte(abs+"\n"), os.Rename); err != nil {
		return fmt.Errorf("setup: remember data folder in %s: %w", path, err)
	}
	return nil
}

// RememberedDataDir returns the data folder recorded by RememberDataDir,
// or "" when none is. A file that does not hold one absolute path is an
// error, not silently ignored.
func RememberedDataDir() (string, error) {
	path, err := LocationFile()
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("setup: read remembered data folder: %w", err)
	}
	if len(data) > maxLocationFileSize {
		return "", fmt.Errorf("setup: %s is larger than %d bytes; it should hold one path", path, maxLocationFileSize)
	}
	dir := string(bytes.TrimSuffix(data, []byte("\n")))
	if dir == "" || !filepath.IsAbs(dir) || bytes.ContainsAny([]byte(dir), "\n\x00") {
		return "", fmt.Errorf("setup: %s does not hold an absolute path\nhint: remove it, or pass --data-dir", path)
	}
	return dir, nil
}

// ResolveDataDir chooses the data folder: flagValue when set, else the
// environment value env (normally $ACCOUNTD_DATA_DIR), else the remembered
// folder, else UserDir(). It reports which one it chose (FromFlag, FromEnv,
// FromRemembered, FromDefault) and returns an absolute path.
func ResolveDataDir(flagValue, env string) (dir, source string, err error) {
	switch {
	case flagValue != "":
		dir, source = flagValue, FromFlag
	case env != "":
		dir, source = env, FromEnv
	default:
		if dir, err = RememberedDataDir(); err != nil {
			return "", "", err
		}
		source = FromRemembered
		if dir == "" {
			if dir, err = UserDir(); err != nil {
				return "", "", fmt.Errorf("%w\nhint: pass --data-dir or set %s", err, DataDirEnv)
			}
			source = FromDefault
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", fmt.Errorf("setup: data folder: %w", err)
	}
	return abs, source, nil
}

// CheckDataDir tells whether dir can hold a new setup, without changing
// anything: it may be missing (Run creates it), or an existing folder
// closed to group and others (ErrInsecurePermissions otherwise) that
// holds no config yet (ErrAlreadySetUp otherwise).
func CheckDataDir(dir string) error {
	if dir == "" {
		return errors.New("setup: data folder is empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("setup: data folder: %w", err)
	}
	_, err = os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		// The nearest existing parent must be a folder we can create in.
		parent := filepath.Dir(abs)
		for {
			pfi, perr := os.Stat(parent)
			if perr == nil {
				if !pfi.IsDir() {
					return fmt.Errorf("setup: data folder %s: %s is not a directory", abs, parent)
				}
				return nil
			}
			if !errors.Is(perr, fs.ErrNotExist) || parent == filepath.Dir(parent) {
				return fmt.Errorf("setup: data folder: %w", perr)
			}
			parent = filepath.Dir(parent)
		}
	}
	if err != nil {
		return fmt.Errorf("setup: data folder: %w", err)
	}
	if err := checkPrivateDir(abs); err != nil {
		return err
	}
	if ok, err := IsSetUp(abs); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%w: %s exists", ErrAlreadySetUp, ConfigPath(abs))
	}
	return nil
}
