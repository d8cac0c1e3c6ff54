package backup

import (
	"fmt"
	"io"
	"sync"

	"github.com/backupfs/backupfs/catalog"
)

// Stream reads an archive stream (an image, a tree's payload or catalog)
// at any offset through its index, fetching chunks from a Source. It keeps
// the last few chunks, enough for sequential reads and for the catalog's
// small reads, and recognises all-zero chunks without fetching them. It is
// safe for concurrent use. (The mount uses the shared cache instead.)
type Stream struct {
	src  Source
	idx  catalog.Index
	name string

	mu     sync.Mutex
	recent [4]cachedChunk
	next   int
}

type cachedChunk struct {
	i    int
	data []byte
}

// NewStream reads the stream described by idx; name is used in errors.
func NewStream(src Source, idx catalog.Index, name string) *Stream {
	s := &Stream{src: src, idx: idx, name: name}
	for i := range s.recent {
		s.recent[i].i = -1
	}
	return s
}

// Size is the stream's length.
func (s *Stream) Size() int64 { return int64(s.idx.Size()) }

// Index is the stream's index.
func (s *Stream) Index() catalog.Index { return s.idx }

// ReadAt implements io.ReaderAt.
func (s *Stream) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: negative offset", s.name)
	}
	n := 0
	for n < len(p) {
		pos := uint64(off) + uint64(n)
		i := s.idx.Find(pos)
		if i < 0 {
			return n, io.EOF
		}
		start, _, _ := s.idx.Chunk(i)
		data, err := s.chunk(i)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], data[pos-start:])
	}
	return n, nil
}

// chunk returns chunk i's verified plain bytes.
func (s *Stream) chunk(i int) ([]byte, error) {
	s.mu.Lock()
	for _, c := range s.recent {
		if c.i == i {
			s.mu.Unlock()
			return c.data, nil
		}
	}
	s.mu.Unlock()
	data, err := FetchChunk(s.src, s.idx, i)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	s.mu.Lock()
	s.recent[s.next] = cachedChunk{i: i, data: data}
	s.next = (s.next + 1) % len(s.recent)
	s.mu.Unlock()
	return data, nil
}

// FetchChunk returns chunk i of idx: zeros for an all-zero chunk without
// asking src, otherwise src's bytes, refused unless their length matches
// the index (the source verified the digest).
func FetchChunk(src Source, idx catalog.Index, i int) ([]byte, error) {
	start, end, d := idx.Chunk(i)
	n := int(end - start)
	if catalog.IsZeroChunk(d, n) {
		return make([]byte, n), nil
	}
	data, err := src.Chunk(d)
	if err != nil {
		return nil, fmt.Errorf("chunk %d at offset %d (%s): %w", i, start, d, err)
	}
	if len(data) != n {
		return nil, fmt.Errorf("chunk %d at offset %d (%s): %w: %d bytes, index says %d", i, start, d, catalog.ErrFormat, len(data), n)
	}
	return data, nil
}
