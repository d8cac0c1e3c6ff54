package backup

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/backupfs/backupfs/catalog"
)

// Stream reads an archive stream (an image, a tree's payload or catalog)
// at any offset through its index, fetching chunks from a Source. It keeps
// a few recent chunks, enough for the catalog's small reads, and when
// reads go forward chunk after chunk it fetches the next ones
// concurrently (readahead), so a restore over the network is not one
// round trip per chunk. All-zero chunks are produced without fetching. It
// is safe for concurrent use. (The mount uses the shared cache instead.)
type Stream struct {
	src   Source
	idx   catalog.Index
	name  string
	ahead int // chunks fetched ahead of a sequential reader
	keep  int // chunks kept besides the readahead

	mu    sync.Mutex
	slots map[int]*fetch // kept or in-flight chunks
	order []int          // slots by age, for eviction
	last  int            // the chunk read last, to see sequential access
}

// fetch is one chunk being fetched or fetched.
type fetch struct {
	done chan struct{}
	data []byte
	err  error
}

// keepChunks is how many chunks a Stream keeps besides its readahead.
const keepChunks = 4

// NewStream reads the stream described by idx; name is used in errors.
// ahead is the readahead in chunks (0: none, for random access).
func NewStream(src Source, idx catalog.Index, name string, ahead int) *Stream {
	return &Stream{src: src, idx: idx, name: name, ahead: ahead, keep: keepChunks, slots: map[int]*fetch{}, last: -1}
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

// chunk returns chunk i's verified plain bytes, starting readahead when
// the access is sequential.
func (s *Stream) chunk(i int) ([]byte, error) {
	s.mu.Lock()
	f := s.slots[i]
	if f == nil {
		f = s.start(i, false)
	}
	if i == s.last+1 {
		for j := i + 1; j <= i+s.ahead && j < s.idx.NumChunks(); j++ {
			if s.slots[j] == nil {
				s.start(j, true)
			}
		}
	}
	if i != s.last {
		s.last = i
	}
	s.mu.Unlock()
	<-f.done
	if f.err != nil {
		s.mu.Lock()
		if s.slots[i] == f {
			delete(s.slots, i) // the next read tries again
		}
		s.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", s.name, f.err)
	}
	return f.data, nil
}

// start fetches chunk i in the background; s.mu is held. A fetch ahead
// of the reader asks the Source at low priority, so a Source that batches
// those (the network client) asks for many chunks per request.
func (s *Stream) start(i int, ahead bool) *fetch {
	f := &fetch{done: make(chan struct{})}
	s.slots[i] = f
	s.order = append(s.order, i)
	for len(s.order) > s.keep+2*s.ahead {
		delete(s.slots, s.order[0]) // an in-flight fetch finishes unseen
		s.order = s.order[1:]
	}
	go func() {
		f.data, f.err = fetchChunk(context.Background(), s.src, s.idx, i, !ahead)
		close(f.done)
	}()
	return f
}

// FetchChunk returns chunk i of idx: zeros for an all-zero chunk without
// asking src, otherwise src's bytes, refused unless their length matches
// the index (the source verified the digest).
func FetchChunk(src Source, idx catalog.Index, i int) ([]byte, error) {
	return fetchChunk(context.Background(), src, idx, i, true)
}

// PrioritySource is a Source that tells a chunk a reader waits for
// (demand) from one fetched ahead of need, and may batch the latter: the
// network client (client.Client.ChunkContext).
type PrioritySource interface {
	ChunkContext(ctx context.Context, d catalog.Digest, demand bool) ([]byte, error)
}

// fetchChunk is FetchChunk with the fetch's priority (demand: a reader
// waits for it), passed to a PrioritySource.
func fetchChunk(ctx context.Context, src Source, idx catalog.Index, i int, demand bool) ([]byte, error) {
	start, end, d := idx.Chunk(i)
	n := int(end - start)
	if catalog.MatchZeroChunk(d, n) {
		return make([]byte, n), nil
	}
	var data []byte
	var err error
	if ps, ok := src.(PrioritySource); ok {
		data, err = ps.ChunkContext(ctx, d, demand)
	} else {
		data, err = src.Chunk(d)
	}
	if err != nil {
		return nil, fmt.Errorf("chunk %d at offset %d (%s): %w", i, start, d, err)
	}
	if len(data) != n {
		return nil, fmt.Errorf("chunk %d at offset %d (%s): %w: %d bytes, index says %d", i, start, d, catalog.ErrFormat, len(data), n)
	}
	return data, nil
}
