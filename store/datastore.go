package store

import (
	"context"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// Datastore is what the server and the local commands use of a datastore,
// whatever holds it: the directory store of this package (Store, through
// Store.Datastore) or the object store (store/objstore). Its conformance
// suite is store/storetest; every implementation runs it.
//
// The contract is the directory store's, method by method (see Store):
// chunks are content-addressed and checked on every read (ErrNotFound,
// ErrCorrupt); a snapshot is visible to Groups, Snapshots, ReadFile and
// Manifest only once its Writer's Commit succeeded, and whole; Forget
// removes one at once and whole; GC removes only chunks that no snapshot
// (published or in progress) references and that nobody touched within
// the grace period, by the store's own time.
type Datastore interface {
	Reader
	// HasChunk reports whether a chunk is stored; it does not read it.
	HasChunk(d catalog.Digest) (bool, error)
	// PutChunk stores a plain chunk after checking its digest (ErrInvalid);
	// an existing chunk is touched for GC. written: bytes were stored.
	PutChunk(d catalog.Digest, plain []byte) (written bool, err error)
	// PutBlob stores a blob as received after VerifyBlob (ErrCorrupt).
	PutBlob(d catalog.Digest, blob []byte) (written bool, err error)
	// Begin starts a snapshot of g at t (whole seconds): ErrExists if it is
	// published or being written.
	Begin(g catalog.Group, t time.Time) (Writer, error)
	// Forget removes a published snapshot (ErrNotFound, ErrBusy,
	// ErrProtected).
	Forget(g catalog.Group, t time.Time) error
	// Protect marks a published snapshot protected or not: Forget refuses
	// it and Prune keeps it.
	Protect(g catalog.Group, t time.Time, on bool) error
	// Protected reports whether a published snapshot is protected.
	Protected(g catalog.Group, t time.Time) (bool, error)
	// Annotate changes a published snapshot's note and tags.
	Annotate(g catalog.Group, t time.Time, a Annotation) (*catalog.Manifest, error)
	// Prune forgets what SelectPrune removes of a group, unless dryRun.
	Prune(g catalog.Group, p KeepPolicy, dryRun bool) (keep, remove []time.Time, err error)
	// Verify checks snapshots and their chunks (see Store.Verify).
	Verify(ctx context.Context, opt VerifyOptions, report func(VerifyProblem)) (VerifyStats, error)
	// GC removes unreferenced chunks older than the grace (see Store.GC).
	GC(ctx context.Context, opt GCOptions) (GCStats, error)
	// String names the datastore for messages (a directory, an s3:// URL).
	String() string
	// Close releases what the datastore holds open (connections, caches).
	Close() error
}

// Reader is the read side of a Datastore: what the server's read
// handlers, ls, restore and a local mount use.
type Reader interface {
	// Groups lists the groups with a published snapshot, sorted.
	Groups() ([]catalog.Group, error)
	// Snapshots lists a group's published snapshots, oldest first; an
	// unknown group gives ErrNotFound.
	Snapshots(g catalog.Group) ([]time.Time, error)
	// ReadFile returns manifest.json or an index file of a published
	// snapshot (ErrNotFound, ErrInvalid for a bad name).
	ReadFile(g catalog.Group, t time.Time, name string) ([]byte, error)
	// Manifest reads and checks a published snapshot's manifest.
	Manifest(g catalog.Group, t time.Time) (*catalog.Manifest, error)
	// Before returns g's latest published snapshot before t.
	Before(g catalog.Group, t time.Time) (time.Time, bool, error)
	// Chunk returns a chunk's plain bytes, verified against d.
	Chunk(d catalog.Digest) ([]byte, error)
	// ReadBlob returns a chunk's blob as stored after CheckBlob, read into
	// buf(n) (a slice of exactly n bytes).
	ReadBlob(d catalog.Digest, buf func(n int) []byte) ([]byte, error)
}

// Writer writes one snapshot; see SnapshotWriter for the contract (the
// session's confinement, the base, Commit's checks). Nothing it writes is
// visible before Commit succeeds; Abort, or a writer dropped without
// either, publishes nothing.
type Writer interface {
	PutChunk(d catalog.Digest, plain []byte) (written bool, err error)
	PutHashedChunk(d catalog.Digest, plain []byte) (written bool, err error)
	PutBlob(d catalog.Digest, blob []byte) (written bool, err error)
	WriteFile(name string, data []byte) error
	// Commit checks and publishes (ErrInvalid, *MissingChunksError,
	// ErrUnknownChunks); on an error the writer stays open.
	Commit(m *catalog.Manifest) error
	Abort() error
	// Confine makes Commit accept only chunks put through this writer or
	// in its base (ErrUnknownChunks).
	Confine()
	// Know makes a chunk the datastore holds usable in this session (the
	// server's digest query, after it decided the client may read it) and
	// reports whether the datastore holds it; the chunk is touched, so a
	// GC meanwhile keeps it for its grace period.
	Know(d catalog.Digest) (bool, error)
	// SetBase holds the group's published snapshot at t as the base.
	SetBase(t time.Time) error
	// Lacks and BaseLacks name base chunks the datastore no longer holds.
	Lacks(d catalog.Digest) bool
	BaseLacks(max int) (ds []catalog.Digest, more bool)
	// DropBase releases the base.
	DropBase()
	// String names the snapshot (TYPE/ID/TIME) for messages.
	String() string
}

var (
	_ Datastore = dirStore{}
	_ Writer    = (*SnapshotWriter)(nil)
)

// Datastore returns s as a Datastore. The directory store's own Begin
// returns the concrete *SnapshotWriter, which tests and the server's older
// code use; the interface's Begin wraps it.
func (s *Store) Datastore() Datastore { return dirStore{s} }

// dirStore is a *Store seen through the Datastore interface.
type dirStore struct{ *Store }

func (d dirStore) Begin(g catalog.Group, t time.Time) (Writer, error) {
	w, err := d.Store.Begin(g, t)
	if err != nil {
		return nil, err
	}
	return w, nil
}

func (d dirStore) String() string { return d.Dir() }
func (d dirStore) Close() error   { return nil }

// Unwrap returns the directory store under a Datastore from
// Store.Datastore, or nil for another implementation.
func Unwrap(ds Datastore) *Store {
	if d, ok := ds.(dirStore); ok {
		return d.Store
	}
	return nil
}
