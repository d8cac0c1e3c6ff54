package cache

import (
	"log/slog"
	"os"

	"github.com/backupfs/backupfs/catalog"
)

// diskTier is the persistent chunk store under Options.Dir.
type diskTier struct {
	dir string
	max int64
	log *slog.Logger
}

// openDisk opens (creating) the disk tier at dir.
func openDisk(dir string, max int64, log *slog.Logger) (*diskTier, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &diskTier{dir: dir, max: max, log: log}, nil
}

// get returns d's bytes if a good copy is on disk.
func (t *diskTier) get(d catalog.Digest, size int) ([]byte, bool) { return nil, false }

// put stores d's bytes, best effort.
func (t *diskTier) put(d catalog.Digest, data []byte) {}
