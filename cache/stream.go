package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/backupfs/backupfs/catalog"
)

// ErrIndex reports an index whose chunk table does not cover an offset
// inside the stream's size.
var ErrIndex = errors.New("cache: index does not cover the offset")

// Stream reads one archive stream (an image, a tree's payload or its
// metadata catalog) through the cache. Keep one Stream per archive stream
// and share it between the handles that read it: stream-level readahead
// (cp -a of many small files) sees the reads of all of them. It is safe
// for concurrent use.
type Stream struct {
	c    *Cache
	idx  catalog.Index
	name string
	size int64

	mu  sync.Mutex
	seq seqState // reads from any handle
}

// Stream returns a reader of the stream described by idx; name is used in
// errors (e.g. "vm/100/2026-11-21T10:00:00Z/root.tree payload").
func (c *Cache) Stream(idx catalog.Index, name string) *Stream {
	return &Stream{c: c, idx: idx, name: name, size: int64(idx.Size())}
}

// Size is the stream's length in bytes.
func (s *Stream) Size() int64 { return s.size }

// ReadState is one open file's access pattern, for per-handle readahead.
// The zero value is ready; it is safe for concurrent use by one handle's
// parallel reads. It holds no position: reads still go by offset.
type ReadState struct {
	mu  sync.Mutex
	seq seqState
	end int64 // Bound: where the file ends in the stream; 0 = the stream's end
}

// Bound tells readahead where the handle's file ends in the stream (a tree
// file inside its archive's payload): a sequential read of it reads ahead
// no further, so a dd of one file does not fetch and decode the next ones.
func (rs *ReadState) Bound(end int64) {
	rs.mu.Lock()
	rs.end = end
	rs.mu.Unlock()
}

// ReadAt reads len(p) bytes at off, across chunks, like io.ReaderAt: fewer
// bytes only with an error, io.EOF at or past the end. rs is the caller's
// per-open-file state (nil: no per-handle readahead). Chunks the read
// spans are fetched concurrently; sequential access starts readahead.
// Errors name the stream, the offset and the chunk's digest.
func (s *Stream) ReadAt(ctx context.Context, p []byte, off int64, rs *ReadState) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: offset %d: negative", s.name, off)
	}
	if off >= s.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	end := min(off+int64(len(p)), s.size)
	s.warm(off, end)
	s.readahead(off, end, rs)
	n, err := s.copyOut(ctx, p[:end-off], off)
	if err == nil && end < off+int64(len(p)) {
		err = io.EOF
	}
	return n, err
}

// View is ReadAt without the copy, for a read that lies in one chunk: it
// returns the n bytes at off (fewer, with io.EOF, at the end of the
// stream) as a slice of the cached chunk, and ok true. A FUSE read of a
// whole chunk (or part of one) can then be answered from the cache's own
// bytes. They are shared and read-only, and stay valid as long as the
// caller holds them: the cache never writes or reuses a chunk's buffer
// (eviction only drops its reference). A read that spans chunks (or an
// offset out of range, or n <= 0) returns ok false and does nothing: the
// caller uses ReadAt. Readahead sees the read as ReadAt would.
func (s *Stream) View(ctx context.Context, off int64, n int, rs *ReadState) (b []byte, ok bool, err error) {
	if off < 0 || off >= s.size || n <= 0 {
		return nil, false, nil
	}
	end := min(off+int64(n), s.size)
	start, cend, d, err := s.chunkAt(off)
	if err != nil || end > cend {
		return nil, false, nil // ReadAt reports a bad index
	}
	s.readahead(off, end, rs)
	data, err := s.c.Chunk(ctx, d, int(cend-start), true)
	if err != nil {
		return nil, true, fmt.Errorf("%s: offset %d: chunk %s: %w", s.name, off, d, err)
	}
	b = data[off-start : end-start : end-start]
	if end < off+int64(n) {
		return b, true, io.EOF
	}
	return b, true, nil
}

// copyOut fills p from the chunks at off, fetching those not cached.
func (s *Stream) copyOut(ctx context.Context, p []byte, off int64) (int, error) {
	return s.fill(p, off, func(d catalog.Digest, size int) ([]byte, error) {
		return s.c.Chunk(ctx, d, size, true)
	})
}

// fill fills p from the chunks at off, each from get.
func (s *Stream) fill(p []byte, off int64, get func(d catalog.Digest, size int) ([]byte, error)) (int, error) {
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		start, end, d, err := s.chunkAt(pos)
		if err != nil {
			return n, err
		}
		data, err := get(d, int(end-start))
		if err != nil {
			return n, fmt.Errorf("%s: offset %d: chunk %s: %w", s.name, pos, d, err)
		}
		n += copy(p[n:], data[pos-start:])
	}
	return n, nil
}

// chunkAt returns the chunk holding pos, checking the index's answer.
func (s *Stream) chunkAt(pos int64) (start, end int64, d catalog.Digest, err error) {
	i := s.idx.Find(uint64(pos))
	if i < 0 || i >= s.idx.NumChunks() {
		return 0, 0, d, fmt.Errorf("%s: offset %d: %w", s.name, pos, ErrIndex)
	}
	st, en, d := s.idx.Chunk(i)
	start, end = int64(st), int64(en)
	if start > pos || end <= pos || end-start > catalog.MaxChunkSize {
		return 0, 0, d, fmt.Errorf("%s: offset %d: chunk %d [%d,%d): %w", s.name, pos, i, start, end, ErrIndex)
	}
	return start, end, d, nil
}

// warm starts the fetches of every chunk after the first that [off, end)
// spans, so a large read waits for one round trip, not one per chunk.
func (s *Stream) warm(off, end int64) {
	first := s.idx.Find(uint64(off))
	last := s.idx.Find(uint64(end - 1))
	if first < 0 || last <= first || last >= s.idx.NumChunks() {
		return
	}
	for i := first + 1; i <= last; i++ {
		st, en, d := s.idx.Chunk(i)
		s.c.start(d, int(en-st), true)
	}
}
