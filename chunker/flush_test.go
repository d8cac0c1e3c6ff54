package chunker

import (
	"bytes"
	"errors"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

// collect returns a Writer made by mk whose chunks are copied into *out.
func collect(t *testing.T, mk func(emit func([]byte) error) (*Writer, error), out *[][]byte) *Writer {
	t.Helper()
	w, err := mk(func(c []byte) error {
		*out = append(*out, bytes.Clone(c))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestFlush: a Flush cuts at the current offset even below Min, and the
// bytes after it are cut exactly as a stream starting there would be.
func TestFlush(t *testing.T) {
	small := Params{Min: 1 << 10, Avg: 4 << 10, Max: 16 << 10}
	for _, c := range []struct {
		name string
		mk   func(emit func([]byte) error) (*Writer, error)
	}{
		{"gear", func(e func([]byte) error) (*Writer, error) { return NewWriter(small, e) }},
		{"fixed", func(e func([]byte) error) (*Writer, error) { return NewFixedWriter(4<<10, e) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := randBytes(11, 50_000+100), randBytes(12, 200_000)
			var got, alone [][]byte
			w := collect(t, c.mk, &got)
			w.Write(a[:100])
			w.Write(a[100:]) // the open chunk spans two Writes
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			n := len(got)
			if err := w.Flush(); err != nil || len(got) != n {
				t.Fatalf("second Flush: %v, %d chunks emitted, want none", err, len(got)-n)
			}
			w.Write(b)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(bytes.Join(got[:n], nil), a) {
				t.Fatalf("chunks before the Flush do not make up exactly the bytes written before it")
			}
			wb := collect(t, c.mk, &alone)
			wb.Write(b)
			wb.Close()
			if len(got)-n != len(alone) {
				t.Fatalf("after Flush: %d chunks, a fresh stream of the same bytes has %d", len(got)-n, len(alone))
			}
			for i := range alone {
				if catalog.Sum(got[n+i]) != catalog.Sum(alone[i]) {
					t.Fatalf("after Flush: chunk %d differs from a fresh stream's", i)
				}
			}
		})
	}
}

func TestFlushShortChunkAndErrors(t *testing.T) {
	var got [][]byte
	w := collect(t, func(e func([]byte) error) (*Writer, error) { return NewWriter(DefaultParams, e) }, &got)
	w.Write([]byte("tiny"))
	if err := w.Flush(); err != nil || len(got) != 1 || string(got[0]) != "tiny" {
		t.Fatalf("Flush of 4 open bytes: %v, chunks %q; want one chunk \"tiny\"", err, got)
	}
	w.Close()
	if err := w.Flush(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close: %v, want ErrClosed", err)
	}
	boom := errors.New("boom")
	w2, _ := NewWriter(DefaultParams, func([]byte) error { return boom })
	w2.Write([]byte("x"))
	if err := w2.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush with a failing emit: %v, want boom", err)
	}
	if _, err := w2.Write([]byte("y")); !errors.Is(err, boom) {
		t.Fatalf("Write after a failed Flush: %v, want the sticky error", err)
	}
}
