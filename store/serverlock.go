package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// serveLock is the file a server holds a lock on while it serves the
// datastore: GC's chunk locks and its oldest-writer rule are per process,
// so a gc in another process must not run beside the server's backups.
const serveLock = ".serve.lock"

// ErrServed reports a datastore a running server holds (HoldForServer).
var ErrServed = errors.New("store: a running server holds this datastore")

// HoldForServer takes the datastore for a server process until release:
// GC in another process then fails with ErrServed (run it through the
// server). A second server on the same datastore fails with ErrServed too.
func (s *Store) HoldForServer() (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.dir, serveLock), os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrServed, s.dir)
		}
		return nil, fmt.Errorf("store: lock %s: %w", serveLock, err)
	}
	s.served.Store(true)
	return func() { s.served.Store(false); f.Close() }, nil
}

// notServed fails with ErrServed while a server in another process holds
// the datastore.
func (s *Store) notServed() error {
	if s.served.Load() {
		return nil // this process is the server
	}
	f, err := os.Open(filepath.Join(s.dir, serveLock))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%w (%s): run gc through it (backupfs gc HOST:/ with an admin:* token)", ErrServed, s.dir)
		}
		return fmt.Errorf("store: lock %s: %w", serveLock, err)
	}
	return nil
}
