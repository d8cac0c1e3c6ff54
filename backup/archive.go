package backup

import (
	"crypto/sha256"

	"github.com/backupfs/backupfs/catalog"
)

// archiveOut is one finished archive: its manifest entry (without the
// index files' checksums yet) and its index files, in manifest order.
type archiveOut struct {
	arch  catalog.Archive
	names []string
	data  [][]byte
}

func (o *archiveOut) add(name string, data []byte) {
	o.names = append(o.names, name)
	o.data = append(o.data, data)
	o.arch.Files = append(o.arch.Files, catalog.IndexFile{
		Name: name, Size: int64(len(data)), SHA256: sha256.Sum256(data),
	})
}
