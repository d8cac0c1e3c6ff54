package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/backupfs/backupfs/cache/cachetest"
	"github.com/backupfs/backupfs/catalog"
)

// refStream is a random stream with all-zero stretches, its chunks in a
// Source and a real index over it.
func refStream(t testing.TB, rng *rand.Rand, size int, dynamic bool) (*cachetest.Source, []byte, catalog.Index) {
	t.Helper()
	src := cachetest.NewSource()
	data := cachetest.RandomBytes(rng, size)
	for i := 0; i < 4; i++ { // zero stretches long enough to hold whole chunks
		off := rng.IntN(size)
		clear(data[off:min(off+200<<10, size)])
	}
	var idx catalog.Index
	var err error
	if dynamic {
		idx, err = src.DynamicStream(rng, data, 1, 100<<10)
	} else {
		idx, err = src.FixedStream(data, 64<<10)
	}
	if err != nil {
		t.Fatal(err)
	}
	return src, data, idx
}

func TestReadAtReference(t *testing.T) {
	for _, tt := range []struct {
		name      string
		dynamic   bool
		readahead int64
		perHandle bool
	}{
		{"fixed", false, 0, true},
		{"fixed no readahead", false, -1, false},
		{"dynamic", true, 0, true},
		{"dynamic stream-level only", true, 1 << 20, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			src, data, idx := refStream(t, rng, 3<<20+12345, tt.dynamic)
			c := newTest(t, src, Options{Size: 1 << 20, Readahead: tt.readahead})
			s := c.Stream(idx, "test.img")
			var rs *ReadState
			if tt.perHandle {
				rs = new(ReadState)
			}
			for i := range 400 {
				off := rng.Int64N(int64(len(data)) + 1000)
				n := rng.IntN(300 << 10)
				if i%3 == 0 {
					n = rng.IntN(100)
				}
				checkRead(t, s, data, off, n, rs)
			}
			for off := 0; off < len(data); off += 128 << 10 { // one sequential pass
				checkRead(t, s, data, int64(off), 128<<10, rs)
			}
			for _, call := range src.Calls() {
				if catalog.IsZeroChunk(call.Digest, 64<<10) {
					t.Fatal("an all-zero chunk was fetched")
				}
			}
		})
	}
}

// checkRead reads n bytes at off and compares them with the reference.
func checkRead(t *testing.T, s *Stream, data []byte, off int64, n int, rs *ReadState) {
	t.Helper()
	p := make([]byte, n)
	got, err := s.ReadAt(context.Background(), p, off, rs)
	want := 0
	if off < int64(len(data)) {
		want = copy(make([]byte, n), data[off:])
	}
	wantErr := n > 0 && want < n || off >= int64(len(data))
	if got != want || (err != nil) != wantErr || err != nil && err != io.EOF {
		t.Fatalf("ReadAt(%d bytes at %d) = %d, %v; want %d bytes, EOF %v", n, off, got, err, want, wantErr)
	}
	if !bytes.Equal(p[:got], data[off:off+int64(got)]) {
		t.Fatalf("ReadAt(%d bytes at %d): wrong bytes", n, off)
	}
}

func TestReadAtEdges(t *testing.T) {
	src := cachetest.NewSource()
	data := []byte("0123456789")
	idx, err := src.DynamicStream(rand.New(rand.NewPCG(1, 1)), data, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	s := newTest(t, src, Options{}).Stream(idx, "edges")
	if s.Size() != 10 {
		t.Fatalf("Size = %d", s.Size())
	}
	tests := []struct {
		off   int64
		n     int
		want  string
		isEOF bool
	}{
		{0, 10, "0123456789", false},
		{2, 5, "23456", false},
		{8, 5, "89", true},
		{10, 1, "", true},
		{11, 0, "", true},
		{5, 0, "", false},
	}
	for _, tt := range tests {
		p := make([]byte, tt.n)
		n, err := s.ReadAt(context.Background(), p, tt.off, nil)
		if string(p[:n]) != tt.want || (err == io.EOF) != tt.isEOF || err != nil && err != io.EOF {
			t.Errorf("ReadAt(%d, %d) = %q, %v", tt.off, tt.n, p[:n], err)
		}
	}
	if _, err := s.ReadAt(context.Background(), make([]byte, 1), -1, nil); err == nil || err == io.EOF {
		t.Errorf("negative offset: %v", err)
	}
}

func TestReadAtErrorNamesChunk(t *testing.T) {
	boom := errors.New("boom")
	src := cachetest.NewSource()
	data := cachetest.RandomBytes(rand.New(rand.NewPCG(7, 8)), 256<<10)
	idx, err := src.FixedStream(data, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	_, _, bad := idx.Chunk(2)
	src.Fail = func(d catalog.Digest) error {
		if d == bad {
			return boom
		}
		return nil
	}
	s := newTest(t, src, Options{Readahead: -1}).Stream(idx, "vm/1/x/disk.img")
	n, err := s.ReadAt(context.Background(), make([]byte, 100<<10), 100<<10, nil)
	want := fmt.Sprintf("vm/1/x/disk.img: offset %d: chunk %s: boom", 128<<10, bad)
	if n != 28<<10 || !errors.Is(err, boom) || err.Error() != want {
		t.Fatalf("got %d, %v; want %d, %s", n, err, 28<<10, want)
	}
}

// badIndex claims a size its chunk table does not cover.
type badIndex struct{}

func (badIndex) Size() uint64    { return 100 }
func (badIndex) NumChunks() int  { return 1 }
func (badIndex) Find(uint64) int { return 0 }
func (badIndex) Chunk(int) (uint64, uint64, catalog.Digest) {
	return 0, 10, catalog.Sum([]byte("x"))
}

func TestReadAtBadIndex(t *testing.T) {
	s := newTest(t, cachetest.NewSource(), Options{}).Stream(badIndex{}, "bad")
	_, err := s.ReadAt(context.Background(), make([]byte, 10), 50, nil)
	if !errors.Is(err, ErrIndex) || !strings.HasPrefix(err.Error(), "bad: offset 50") {
		t.Fatalf("got %v, want ErrIndex", err)
	}
}
