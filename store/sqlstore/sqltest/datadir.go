package sqltest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// A data directory made by mariadb-install-db costs a second or two of
// CPU, and a test run starts several private servers. So one is installed
// as a template in os.TempDir and copied for every server, by every test
// process on the machine:
//
//	$TMPDIR/accountd-mariadb-template-<key>/MANIFEST
//	$TMPDIR/accountd-mariadb-template-<key>/data/...
//
// The key is a hash of the identity (inode, size, times) of mariadbd and
// mariadb-install-db and of the install's options, so an upgraded or
// reinstalled MariaDB gets a template of its own. A template is built
// under another name and renamed into place with its MANIFEST (every
// file's mode, size and path), so a process sees a whole template or none;
// when two build one at once, the first rename wins. A template with a
// file missing or of another size (a /tmp cleaner) is not used: the
// server is installed afresh. Templates are never changed or removed by the tests;
// an old one may be deleted at any time (about 7 MB each, as the mostly
// empty redo log is kept sparse).
const templatePrefix = "accountd-mariadb-template-"

// manifestName is the file of a template that lists its data files.
const manifestName = "MANIFEST"

// templateMu makes the test processes' parallel tests build one template
// between them rather than one each.
var templateMu sync.Mutex

// installDataDir fills the data directory data, which must not exist, with
// a freshly installed one, copied from the template when there is one.
// tmp is the server's temporary folder. It returns a note for the test
// log when the template could not be used.
func installDataDir(bin, installDB, tmp, data string) (note string, err error) {
	tmpl, err := dataDirTemplate(bin, installDB)
	if err == nil {
		if err = copyTemplate(tmpl, data); err == nil {
			return "", nil
		}
		os.RemoveAll(data)
	}
	note = fmt.Sprintf("sqltest: data directory template not used (%v); installing afresh", err)
	return note, runInstallDB(installDB, tmp, data)
}

// installArgs are mariadb-install-db's options apart from the folders.
func installArgs() []string {
	args := []string{"--no-defaults", "--skip-test-db", "--auth-root-authentication-method=normal"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	return args
}

func runInstallDB(installDB, tmp, data string) error {
	args := append(installArgs(), "--datadir="+data, "--tmpdir="+tmp)
	if out, err := exec.Command(installDB, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("sqltest: mariadb-install-db: %w\n%s", err, out)
	}
	return nil
}

// dataDirTemplate returns the template's folder for these binaries,
// building it first when there is none.
func dataDirTemplate(bin, installDB string) (string, error) {
	key, err := templateKey(bin, installDB)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(os.TempDir(), templatePrefix+key)
	templateMu.Lock()
	defer templateMu.Unlock()
	if _, err := os.Stat(filepath.Join(dir, manifestName)); err == nil {
		return dir, nil
	}
	build, err := os.MkdirTemp("", templatePrefix+key+".new-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(build) // nothing left after the rename
	scratch := filepath.Join(build, "install")
	if err := os.Mkdir(filepath.Join(build, "tmp"), 0o700); err != nil {
		return "", err
	}
	if err := runInstallDB(installDB, filepath.Join(build, "tmp"), scratch); err != nil {
		return "", err
	}
	var manifest bytes.Buffer
	err = filepath.WalkDir(scratch, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("sqltest: %s in an installed data directory is not a regular file", path)
		}
		rel, _ := filepath.Rel(scratch, path)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if err := copySparse(path, filepath.Join(build, "data", rel), fi.Mode().Perm()); err != nil {
			return err
		}
		fmt.Fprintf(&manifest, "%o %d %s\n", fi.Mode().Perm(), fi.Size(), rel)
		return nil
	})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(build, manifestName), manifest.Bytes(), 0o600); err != nil {
		return "", err
	}
	if err := os.RemoveAll(scratch); err != nil {
		return "", err
	}
	if err := os.Rename(build, dir); err != nil {
		// Another process renamed its template into place first.
		if _, serr := os.Stat(filepath.Join(dir, manifestName)); serr == nil {
			return dir, nil
		}
		return "", err
	}
	return dir, nil
}

// templateKey names the template for the MariaDB installed at bin and
// installDB: a file replaced by a package upgrade or reinstall has a new
// inode and change time.
func templateKey(bin, installDB string) (string, error) {
	h := sha256.New()
	for _, p := range []string{bin, installDB} {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return "", errors.New("sqltest: no inode numbers here")
		}
		fmt.Fprintf(h, "%s %d %d %d %d %d %d\n", p, st.Dev, st.Ino, fi.Size(),
			fi.ModTime().UnixNano(), st.Ctim.Sec, st.Ctim.Nsec)
	}
	fmt.Fprintf(h, "%q\n", installArgs())
	return hex.EncodeToString(h.Sum(nil))[:20], nil
}

// copyTemplate copies the files the template's manifest lists into data,
// and fails when one is missing or has another size.
func copyTemplate(tmpl, data string) error {
	f, err := os.Open(filepath.Join(tmpl, manifestName))
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		mode, rest, ok1 := strings.Cut(sc.Text(), " ")
		size, rel, ok2 := strings.Cut(rest, " ")
		perm, err1 := strconv.ParseUint(mode, 8, 32)
		want, err2 := strconv.ParseInt(size, 10, 64)
		if !ok1 || !ok2 || err1 != nil || err2 != nil || !filepath.IsLocal(rel) {
			return fmt.Errorf("sqltest: bad line in %s: %q", f.Name(), sc.Text())
		}
		src := filepath.Join(tmpl, "data", rel)
		if fi, err := os.Stat(src); err != nil {
			return err
		} else if fi.Size() != want {
			return fmt.Errorf("sqltest: %s has %d bytes, the manifest says %d", src, fi.Size(), want)
		}
		if err := copySparse(src, filepath.Join(data, rel), fs.FileMode(perm)); err != nil {
			return err
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("sqltest: %s lists no file", f.Name())
	}
	return nil
}

// copyDataDir copies the regular files of the folder src into dst, but
// not the ones named skip at its top.
func copyDataDir(src, dst string, skip ...string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if slices.Contains(skip, rel) {
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return copySparse(path, filepath.Join(dst, rel), fi.Mode().Perm())
	})
}

// copySparse copies the file src to dst, making its parent folders, and
// leaves holes where src has blocks of zeros: most of InnoDB's 96 MiB
// redo log is zeros until written.
func copySparse(src, dst string, perm fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	const block = 64 << 10
	buf, zero := make([]byte, block), make([]byte, block)
	var off int64
	for {
		n, err := io.ReadFull(in, buf)
		if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
			if _, werr := out.WriteAt(buf[:n], off); werr != nil {
				out.Close()
				return werr
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			out.Close()
			return err
		}
	}
	if err := out.Truncate(off); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
