// Package store is backupfs's datastore: the Datastore and Writer
// interfaces every backend implements (datastore.go; conformance suite in
// storetest, the object store in objstore) and the directory datastore on
// local disk: content-addressed chunk blobs (plain or sealed, sealed.go),
// published snapshots, atomic publishing, prune and protection, garbage
// collection and verification (RunVerify, shared by the backends), and
// Commit's backend-independent checks and a base's chunks (commitcheck.go:
// CheckManifestFor, CheckIndexes, CountUnknown, ReadBaseChunks, also
// called by the object store).
//
// A snapshot writer confines what its index files may reference and gives
// back what it stored when it aborts: session.go.
//
// # Backends
//
// Datastore (datastore.go) is what the server and the local commands use
// of a datastore; Store is its directory implementation (Store.Datastore
// wraps it, Unwrap gives it back), store/objstore the S3 object store one.
// store/storetest is the conformance suite every implementation runs. Both
// share the blob format (EncodeBlob), the names and the rules below; the
// object store's layout and its GC clock are in its own package doc.
//
// # Layout
//
//	DIR/.backupfs-datastore                marker: "backupfs datastore 1\n"
//	DIR/.chunks/<first 4 hex>/<64 hex>     chunk blobs (see EncodeBlob)
//	DIR/.chunks/<first 4 hex>/<64 hex>.bad chunks Verify found corrupt
//	DIR/.bad-chunks                        their digests, one hex per line (see base.go)
//	DIR/<type>/<id>/<RFC3339 UTC>/         published snapshots: manifest.json + index files,
//	                                       and "protected" (Protect), "verified" (last clean verify)
//	DIR/.serve.lock                        flock'd by a server while it serves (HoldForServer)
//	DIR/.tmp/<type>_<id>_<time>/           snapshots being written (invisible to listings)
//	DIR/.trash/                            snapshots being forgotten
//
// Directories are created 0700 and files 0600: a datastore holds other
// machines' data. Init creates the layout in a missing or empty directory
// and refuses a non-empty directory without the marker; Open opens only a
// directory that has the marker.
//
// # Atomicity
//
// A chunk is written to a temporary file in its final directory, synced,
// and renamed into place (then the directory is synced), so a chunk file
// is either absent or complete. A snapshot is written under .tmp and
// published by one rename after every file (and the directory) is synced
// and every chunk its indexes reference is known to exist; a crash or an
// abort publishes nothing. Forget renames a snapshot aside before removing
// it, so a half-removed snapshot is never visible.
//
// # Cost of a chunk write (measured, BenchmarkWriteChunk)
//
// A new chunk costs a failed utimensat (the touch), a create, a write, a
// close and a rename: ~70-90 us of CPU on ext4 on a quiet machine, no
// fsync (Commit's one syncfs took 0.16-0.19 s after a 560 MB tree backup).
// O_TMPFILE + linkat instead of create + rename measured no better and was
// not kept. In a fresh datastore most new chunks also create their <4 hex>
// directory: on a quiet machine that measured within noise (76-81 us per
// chunk against ~70), but with other processes deleting many files it
// cost 220-330 us more per chunk (ext4's inode allocator scanning
// recently deleted inodes). It is paid once per directory for the life of
// the datastore, so the 65,536-way fan-out (as in Proxmox Backup) is kept.
//
// # Compression level
//
// Chunks are compressed with zstd at BlobLevel = SpeedFastest. Measured on
// the benchmark tree (GOROOT + /usr/include + /usr/share/doc + a 96 MiB
// half-random image: 571 MB in 155 KiB pieces, the tree chunker's median),
// one core, CPU time, klauspost/compress, two runs:
//
//	level      stored/plain  encode MB/s per core  decode MB/s per core
//	fastest    0.402         328-353               1584
//	default    0.390         213-222               1916
//	better     0.381         112-117               1847
//
// Default stores 3% less for 1.5x the encoding CPU, and compression was
// the largest single cost of a backup (nearly half the client's CPU at
// default). Decoding is 17% slower at fastest, but at 1.6 GB/s it stays a
// small part of the server's check of an upload and of a read.
// Incompressible chunks cost little at any level: zstd detects them and
// emits raw blocks (random 128 KiB: ~18 GB/s), and EncodeBlob then keeps
// the chunk raw, so no separate early-abort test is needed.
//
// # Errors
//
// Callers branch on ErrNotFound (no such chunk, group, snapshot or file),
// ErrCorrupt (a blob or file failed its checks), ErrExists (Begin on a
// snapshot that exists or is being written, Init on a datastore),
// ErrNoDatastore (Open on a missing or empty directory), ErrNotDatastore
// (Open or Init on a foreign directory), ErrInvalid (a bad name or a manifest that does not
// match), ErrGCRunning and ErrBusy (Forget of a snapshot a backup in
// progress holds as its base). Errors are wrapped with the path or digest.
//
// # Concurrency and garbage collection
//
// A Store is safe for concurrent use by many goroutines, including a GC
// running at the same time as backups. GC is mark and sweep on chunk
// mtimes (as in Proxmox Backup Server): it notes its start time, marks
// every chunk referenced by a published snapshot or by an index file
// already written to a snapshot in progress by setting its mtime to now,
// then removes chunk files that are unmarked and whose mtime is older than
// start minus a grace period. PutChunk of a chunk that exists touches it
// (except over a sealed blob, which a checked plain chunk of that digest
// replaces: a sealed blob under a plain digest may be a forgery, see
// storedSealed),
// and Commit touches every chunk the snapshot references while checking it
// exists, so a chunk a backup relies on either survives the sweep or the
// Commit fails (nothing is published). The one exception is the chunks of
// the writer's base (SetBase: the previous snapshot an incremental backup
// takes unchanged chunks from), which Commit does not look up: the writer
// holds the base against Forget until it ends, so they stay referenced by
// a published snapshot throughout (base.go has the argument, and how
// chunks Verify renamed aside are still checked). Touch and sweep of one chunk are
// serialised by a lock striped over digests, which is why GC must run in
// the same process as the writers (the server): the locks do not span
// processes. Only one GC runs at a time per Store.
//
// The clock (Options.Now) drives every mtime the store sets, so tests can
// move time without sleeping.
//
// # What it must not do
//
// The store never trusts a digest it is given for bytes it writes, with one
// exception: PutChunk checks the SHA-256 of a chunk before writing it and
// PutBlob (the server's path for uploads) decodes and checks a blob first;
// only PutHashedChunk, for an in-process caller that just hashed the same
// bytes (the backup pipe), skips the second hash, and a wrong digest there
// is still caught by the digest check of every read and of Verify. It never returns a chunk's bytes without checking
// them (Chunk verifies the digest, Blob the CRC). It never makes a partial
// snapshot visible, and it never deletes a chunk a published snapshot
// references while that snapshot exists.
package store

import "errors"

// Sentinel errors; the store wraps them with context.
var (
	// ErrNotFound reports a missing chunk, group, snapshot or file.
	ErrNotFound = errors.New("store: not found")
	// ErrCorrupt reports a blob or file that failed its checks.
	ErrCorrupt = errors.New("store: corrupt data")
	// ErrExists reports a snapshot that exists or is being written, or
	// Init on a directory that is a datastore already.
	ErrExists = errors.New("store: already exists")
	// ErrNotDatastore reports a non-empty directory that is not a datastore.
	ErrNotDatastore = errors.New("store: not a datastore")
	// ErrNoDatastore reports a missing or empty directory given to Open:
	// a datastore is made only by Init.
	ErrNoDatastore = errors.New("store: no datastore")
	// ErrInvalid reports a bad name, or a manifest or index that does not
	// match what was written.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrGCRunning reports a GC started while another runs on the store.
	ErrGCRunning = errors.New("store: garbage collection already running")
	// ErrBusy: Forget of a snapshot a backup in progress holds as its
	// base, or SetBase of one being forgotten.
	ErrBusy = errors.New("store: snapshot in use")
	// ErrClosed reports use of a snapshot writer after Commit or Abort, or
	// after GC removed it as abandoned.
	ErrClosed = errors.New("store: snapshot writer closed")
)
