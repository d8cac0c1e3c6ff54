package store

import (
	"fmt"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// What every backend's writer does alike (store/objstore calls these too):
// Commit's checks of the manifest and its index files, a confined
// session's rule, and a base's chunks. Each backend keeps what differs:
// how an index file written is read back, how chunks are touched, how a
// base is held.

// CheckManifestFor checks that m is valid and names g at t (ErrInvalid).
func CheckManifestFor(m *catalog.Manifest, g catalog.Group, t time.Time) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if m.Group != g.String() || m.Time != catalog.FormatTime(t) {
		return fmt.Errorf("%w: manifest names %s/%s", ErrInvalid, m.Group, m.Time)
	}
	return nil
}

// CheckIndexes runs Commit's checks of the index files m lists that do
// not depend on the backend: each is read back with read (which fails
// with ErrInvalid for one not written, and checks it against its entry,
// DecodeIndexFile), is the right kind for its archive (checkIndexKind),
// and for a confined writer (unknown, see CountUnknown) references no
// chunk outside the session and the base (ErrUnknownChunks). visit is
// called with each index that passed. It returns the names m lists, for
// the caller's check that nothing else was written.
func CheckIndexes(m *catalog.Manifest, read func(catalog.IndexFile) (catalog.Index, error),
	unknown func(catalog.Index) (int, catalog.Digest),
	visit func(catalog.Index) error) (listed map[string]bool, err error) {
	listed = make(map[string]bool)
	for _, a := range m.Archives {
		for i, f := range a.Files {
			listed[f.Name] = true
			idx, err := read(f)
			if err != nil {
				return nil, err
			}
			if err := checkIndexKind(a, i, idx); err != nil {
				return nil, err
			}
			if n, d := unknown(idx); n > 0 {
				return nil, fmt.Errorf("%w: index file %s: %d chunks (first %s) were neither uploaded in this backup nor in its base snapshot",
					ErrUnknownChunks, f.Name, n, d)
			}
			if err := visit(idx); err != nil {
				return nil, err
			}
		}
	}
	return listed, nil
}

// CountUnknown counts the digests of idx a confined writer may not
// reference, and gives the first: those neither put in its session
// (put) nor trusted (the base, less its bad chunks). It never looks at
// the store.
func CountUnknown(idx catalog.Index, put func(catalog.Digest) bool, trusted map[catalog.Digest]struct{}) (n int, first catalog.Digest) {
	for i := range idx.NumChunks() {
		_, _, d := idx.Chunk(i)
		if _, ok := trusted[d]; ok || put(d) {
			continue
		}
		if n == 0 {
			first = d
		}
		n++
	}
	return n, first
}

// NewChunks returns the chunks of idx not in seen (adding them) and not
// trusted: those Commit must find stored.
func NewChunks(idx catalog.Index, seen, trusted map[catalog.Digest]struct{}) []catalog.Digest {
	var todo []catalog.Digest
	for i := range idx.NumChunks() {
		_, _, d := idx.Chunk(i)
		if _, ok := seen[d]; ok {
			continue
		}
		seen[d] = struct{}{}
		if _, ok := trusted[d]; !ok {
			todo = append(todo, d)
		}
	}
	return todo
}

// BaseChunks are a writer's base's chunks (see base.go): every chunk its
// index files reference, and those of them Verify found bad and that are
// not stored again (Lacks).
type BaseChunks struct {
	Chunks map[catalog.Digest]struct{}
	Lacks  map[catalog.Digest]struct{}
}

// ReadBaseChunks collects the chunks of a published snapshot's index
// files (index reads and checks one against m) and, with lacking (the
// backend's bad list), those it lacks.
func ReadBaseChunks(m *catalog.Manifest, index func(catalog.IndexFile) (catalog.Index, error),
	lacking func(map[catalog.Digest]struct{}) (map[catalog.Digest]struct{}, error)) (BaseChunks, error) {
	chunks := make(map[catalog.Digest]struct{})
	for _, a := range m.Archives {
		for _, f := range a.Files {
			idx, err := index(f)
			if err != nil {
				return BaseChunks{}, err
			}
			for i := range idx.NumChunks() {
				_, _, d := idx.Chunk(i)
				chunks[d] = struct{}{}
			}
		}
	}
	lacks, err := lacking(chunks)
	if err != nil {
		return BaseChunks{}, err
	}
	return BaseChunks{Chunks: chunks, Lacks: lacks}, nil
}

// Lacking reports whether d is a chunk the base lacks.
func (b *BaseChunks) Lacking(d catalog.Digest) bool {
	_, ok := b.Lacks[d]
	return ok
}

// ListLacks lists at most max chunks the base lacks, and whether there
// were more.
func (b *BaseChunks) ListLacks(max int) (ds []catalog.Digest, more bool) {
	for d := range b.Lacks {
		if len(ds) == max {
			return ds, true
		}
		ds = append(ds, d)
	}
	return ds, false
}

// Trust drops from the base's chunks those lacks names (read again at
// Commit) and returns what is left: the chunks Commit need not look up.
func (b *BaseChunks) Trust(lacks map[catalog.Digest]struct{}) map[catalog.Digest]struct{} {
	for d := range lacks {
		delete(b.Chunks, d)
	}
	return b.Chunks
}
