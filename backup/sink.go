package backup

import (
	"sync/atomic"

	"github.com/backupfs/backupfs/catalog"
)

// Sink receives one snapshot being written. The local datastore's
// store.SnapshotWriter implements it.
type Sink interface {
	// PutChunk stores a chunk unless the sink has it; written reports
	// whether bytes were stored. The caller computed d from plain.
	PutChunk(d catalog.Digest, plain []byte) (written bool, err error)
	// WriteFile stores an index file of the snapshot.
	WriteFile(name string, data []byte) error
	// Commit publishes the snapshot atomically.
	Commit(m *catalog.Manifest) error
	// Abort discards everything written; nothing becomes visible.
	Abort() error
}

// ImageChunker is a Sink that asks for image chunks of a size of its own
// (chunker.LargeFixedSize on an object store, where every chunk is a
// request); 0 means the default. Run uses it when Options.FixedSize is 0.
// An image whose previous snapshot had another chunk size shares no chunks
// with it: the first backup after a change uploads the image whole.
type ImageChunker interface {
	ImageChunkSize() int
}

// Stats counts a backup's progress. Fields are updated atomically while
// Run works, so a progress printer may read them concurrently.
type Stats struct {
	Files      atomic.Int64 // regular files (and hardlinks) read
	Dirs       atomic.Int64
	Bytes      atomic.Int64 // plain bytes chunked (file contents, images, catalogs)
	Chunks     atomic.Int64 // chunks referenced
	NewChunks  atomic.Int64 // chunks the sink did not have
	NewBytes   atomic.Int64 // plain bytes of those chunks
	Unreadable atomic.Int64 // files or directories that could not be read (skipped)
	Skipped    atomic.Int64 // entries skipped on purpose (sockets)
	// Options.Select: entries left out (an excluded directory is one,
	// its contents unwalked) and the sizes of the regular files among them.
	Excluded      atomic.Int64
	ExcludedBytes atomic.Int64
	// Image chunks the sink said it holds among those the client may read
	// (the digest query: KnownSink), referenced without upload.
	KnownChunks atomic.Int64
	KnownBytes  atomic.Int64
	// DryRun: the sizes of the regular files a backup would read.
	DryRunBytes atomic.Int64
	// Change detection (Options.Previous): files whose contents were
	// taken from the previous snapshot's chunks without reading them,
	// their bytes, and the bytes of those chunks that no entry of the new
	// snapshot references (parts of changed or deleted files).
	ReusedFiles atomic.Int64
	ReusedBytes atomic.Int64
	Padding     atomic.Int64
}

// DedupRatio is plain bytes chunked per new plain byte stored (1 = nothing
// deduplicated). It is 0 before anything was chunked.
func (s *Stats) DedupRatio() float64 {
	b, n := s.Bytes.Load(), s.NewBytes.Load()
	if b == 0 {
		return 0
	}
	if n == 0 {
		return float64(b)
	}
	return float64(b) / float64(n)
}
