package chunker

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/backupfs/backupfs/catalog"
)

// digests cuts data with p and returns the chunk digests.
func digests(t testing.TB, p Params, data []byte) []catalog.Digest {
	t.Helper()
	var ds []catalog.Digest
	w, err := NewWriter(p, func(c []byte) error {
		ds = append(ds, catalog.Sum(c))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return ds
}

// newChunks counts the digests of b that are not in a.
func newChunks(a, b []catalog.Digest) int {
	seen := make(map[catalog.Digest]bool, len(a))
	for _, d := range a {
		seen[d] = true
	}
	n := 0
	for _, d := range b {
		if !seen[d] {
			n++
		}
	}
	return n
}

func TestInsertInMiddle(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB stream")
	}
	data := randBytes(5, 64<<20)
	mid := len(data) / 2
	edited := append(append(append([]byte{}, data[:mid]...), randBytes(6, 100)...), data[mid:]...)
	for _, p := range []Params{DefaultParams, {Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}} {
		a, b := digests(t, p, data), digests(t, p, edited)
		if n := newChunks(a, b); n > 3 || n == 0 {
			t.Errorf("%+v: inserting 100 bytes changed %d of %d chunks, want 1..3", p, n, len(b))
		}
	}
}

func TestFixedWriter(t *testing.T) {
	for _, tc := range []struct{ size, n int }{
		{64, 0}, {64, 1}, {64, 64}, {64, 65}, {4096, 100_000}, {DefaultFixedSize, 2*DefaultFixedSize + 1},
	} {
		data := randBytes(uint64(tc.n), tc.n)
		for _, piece := range []int{1, 7, tc.size, 1 << 20} {
			if piece == 1 && tc.n > 100_000 {
				continue
			}
			var got [][]byte
			w, err := NewFixedWriter(tc.size, func(c []byte) error {
				got = append(got, bytes.Clone(c))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for b := data; len(b) > 0; b = b[min(piece, len(b)):] {
				w.Write(b[:min(piece, len(b))])
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if want := (tc.n + tc.size - 1) / tc.size; len(got) != want {
				t.Fatalf("size %d, %d bytes: %d chunks, want %d", tc.size, tc.n, len(got), want)
			}
			for i, c := range got {
				if len(c) != tc.size && (i != len(got)-1 || len(c) != tc.n%tc.size) {
					t.Fatalf("size %d, %d bytes, piece %d: chunk %d has %d bytes", tc.size, tc.n, piece, i, len(c))
				}
			}
			if !bytes.Equal(bytes.Join(got, nil), data) {
				t.Fatalf("size %d: chunks do not concatenate to the input", tc.size)
			}
		}
	}
}

func TestFixedSizeInvalid(t *testing.T) {
	for _, size := range []int{0, -4096, 32, 3000, catalog.MaxChunkSize * 2} {
		if _, err := NewFixedWriter(size, func([]byte) error { return nil }); !errors.Is(err, ErrParams) {
			t.Errorf("NewFixedWriter(%d): %v, want ErrParams", size, err)
		}
	}
	if _, err := NewWriter(DefaultParams, nil); !errors.Is(err, ErrParams) {
		t.Errorf("NewWriter with nil emit: %v, want ErrParams", err)
	}
}

func TestEmitErrorIsSticky(t *testing.T) {
	boom := errors.New("boom")
	calls := 0
	w, _ := NewWriter(small, func([]byte) error { calls++; return boom })
	data := randBytes(7, 10_000)
	n, err := w.Write(data)
	if !errors.Is(err, boom) || n == len(data) || calls != 1 {
		t.Fatalf("Write = %d, %v after %d emits; want a short count and boom once", n, err, calls)
	}
	if _, err := w.Write(data); !errors.Is(err, boom) {
		t.Errorf("second Write: %v, want boom", err)
	}
	if err := w.Close(); !errors.Is(err, boom) || calls != 1 {
		t.Errorf("Close: %v after %d emits, want boom and no new emit", err, calls)
	}
}

func TestWriteAfterClose(t *testing.T) {
	w, _ := NewWriter(small, func([]byte) error { return nil })
	w.Write([]byte("abc"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
}

func TestNoAllocPerChunk(t *testing.T) {
	data := randBytes(8, 1<<20)
	w, _ := NewWriter(small, func([]byte) error { return nil })
	allocs := testing.AllocsPerRun(20, func() {
		for b := data; len(b) > 0; b = b[min(1000, len(b)):] {
			w.Write(b[:min(1000, len(b))])
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per 1 MiB (%d-byte chunks), want 0", allocs, small.Avg)
	}
}

func TestSplitErrors(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(randBytes(9, 5000)), iotest.ErrReader(boom))
	n := 0
	if err := Split(r, small, func([]byte) error { n++; return nil }); !errors.Is(err, boom) || n == 0 {
		t.Errorf("Split over a failing reader: %v after %d chunks, want boom after some", err, n)
	}
	if err := Split(bytes.NewReader(nil), Params{}, func([]byte) error { return nil }); !errors.Is(err, ErrParams) {
		t.Errorf("Split with zero Params: %v, want ErrParams", err)
	}
	err := Split(bytes.NewReader(randBytes(10, 5000)), small, func([]byte) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("Split with failing emit: %v, want boom", err)
	}
}
