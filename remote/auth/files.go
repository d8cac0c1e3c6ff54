package auth

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Names inside DIR/.auth.
const (
	authDirName   = ".auth"
	tokensName    = "tokens.json"
	lockName      = "tokens.lock"
	certName      = "cert.pem"
	keyName       = "key.pem"
	tmpPrefix     = ".tmp-"
	authDirPerm   = 0o700
	secretPerm    = 0o600
	looseDirPerms = 0o077 // group or other bits that must not be set on .auth
)

// authDir creates DIR/.auth (0700) if missing and returns its path. An
// existing .auth that group or others may access is refused rather than
// silently used: the private key lives there.
func authDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("auth: %w", err)
	}
	p := filepath.Join(abs, authDirName)
	if err := os.Mkdir(p, authDirPerm); err == nil {
		// Mkdir is subject to the umask; make the mode exact.
		if err := os.Chmod(p, authDirPerm); err != nil {
			return "", fmt.Errorf("auth: %w", err)
		}
		return p, nil
	} else if !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("auth: %w", err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("auth: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("auth: %s is not a directory", p)
	}
	if fi.Mode().Perm()&looseDirPerms != 0 {
		return "", fmt.Errorf("auth: %s has mode %v; it holds secrets, run chmod 700 on it", p, fi.Mode().Perm())
	}
	return p, nil
}

// writeFileAtomic writes data (mode 0600) to a temporary file next to
// path, fsyncs it, renames it to path and fsyncs the directory: readers
// see the old file or the whole new one.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tmpPrefix+"*") // CreateTemp makes the file 0600
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	name := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("auth: write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		return fmt.Errorf("auth: sync %s: %w", dir, err)
	}
	return nil
}

// lockAuth takes an exclusive flock on DIR/.auth/tokens.lock. It serialises
// writers across processes (and across Tokens values in one process: each
// opens its own file description). The returned func releases it.
func lockAuth(authPath string) (unlock func(), err error) {
	p := filepath.Join(authPath, lockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, secretPerm)
	if err != nil {
		return nil, fmt.Errorf("auth: lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("auth: lock %s: %w", p, err)
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}

// readBounded reads an open file, refusing one larger than max before
// allocating for it.
func readBounded(f *os.File, size, max int64) ([]byte, error) {
	if size > max {
		return nil, fmt.Errorf("%w: %s: %d bytes, at most %d", ErrFormat, f.Name(), size, max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("auth: read %s: %w", f.Name(), err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s: more than %d bytes", ErrFormat, f.Name(), max)
	}
	return b, nil
}
