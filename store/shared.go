package store

import "github.com/backupfs/backupfs/catalog"

// Checks shared with other Datastore implementations (store/objstore), so
// every backend accepts the same names and manifests; Commit's shared
// checks are in commitcheck.go.

// ValidFileName checks a snapshot file name: one path element, no NUL,
// not hidden (ErrInvalid).
func ValidFileName(name string) error { return validFileName(name) }

// ValidIndexName accepts ARCHIVE + the index suffixes of its kind
// (ErrInvalid otherwise).
func ValidIndexName(name string) error { return validIndexName(name) }

// DecodeIndexFile checks an index file's bytes against its manifest entry
// and decodes them; a mismatch wraps bad (ErrInvalid or ErrCorrupt).
func DecodeIndexFile(b []byte, f catalog.IndexFile, bad error) (catalog.Index, error) {
	return decodeIndexFile(b, f, bad)
}

// MaxMissingListed is how many digests a MissingChunksError lists.
const MaxMissingListed = maxMissingListed
