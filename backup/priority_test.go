package backup

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// prioSource is a Source below the seam that records the priority of
// each fetch (PrioritySource).
type prioSource struct {
	chunks map[catalog.Digest][]byte
	mu     sync.Mutex
	demand map[catalog.Digest]int
	ahead  map[catalog.Digest]int
}

func newPrioSource() *prioSource {
	return &prioSource{chunks: map[catalog.Digest][]byte{}, demand: map[catalog.Digest]int{}, ahead: map[catalog.Digest]int{}}
}

func (p *prioSource) ReadFile(catalog.Group, time.Time, string) ([]byte, error) {
	return nil, os.ErrNotExist
}

func (p *prioSource) Chunk(d catalog.Digest) ([]byte, error) {
	return p.ChunkContext(context.Background(), d, true)
}

func (p *prioSource) ChunkContext(_ context.Context, d catalog.Digest, demand bool) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if demand {
		p.demand[d]++
	} else {
		p.ahead[d]++
	}
	return p.chunks[d], nil
}

// image builds a fixed index of n distinct 4 KiB chunks.
func (p *prioSource) image(t *testing.T, n int) (catalog.Index, []byte) {
	t.Helper()
	w, err := catalog.NewFixedIndexWriter(4096)
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for i := range n {
		c := bytes.Repeat([]byte{byte(i + 1)}, 4096)
		d := catalog.Sum(c)
		p.chunks[d] = c
		all = append(all, c...)
		if err := w.Add(d, len(c)); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := catalog.DecodeIndex(w.Encode(time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	return idx, all
}

// An image restore asks for every chunk ahead of need (a network source
// batches those), once each, and writes the exact bytes.
func TestRestoreImageFetchesAhead(t *testing.T) {
	src := newPrioSource()
	idx, want := src.image(t, 40)
	target := filepath.Join(t.TempDir(), "disk.img")
	if err := RestoreImage(context.Background(), NewStream(src, idx, "disk.img", 0), target); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(target)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("restored image differs (%v)", err)
	}
	if len(src.demand) != 0 || len(src.ahead) != 40 {
		t.Fatalf("fetches: %d demand, %d ahead; want 0 and 40", len(src.demand), len(src.ahead))
	}
	for d, n := range src.ahead {
		if n != 1 {
			t.Fatalf("chunk %s fetched %d times", d, n)
		}
	}
}

// A sequential reader of a Stream waits for the chunk it reads (demand)
// and has the next ones fetched ahead at low priority.
func TestStreamReadaheadIsLowPriority(t *testing.T) {
	src := newPrioSource()
	idx, want := src.image(t, 20)
	s := NewStream(src, idx, "disk.img", 8)
	got := make([]byte, len(want))
	for off := 0; off < len(want); off += 4096 {
		if _, err := s.ReadAt(got[off:off+4096], int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatal("stream read differs")
	}
	if len(src.ahead) < 15 || len(src.demand) > 5 {
		t.Fatalf("fetches: %d demand, %d ahead; want most ahead", len(src.demand), len(src.ahead))
	}
}
