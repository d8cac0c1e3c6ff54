package backup

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"testing/iotest"
	"time"
)

// TestStdinImage backs an image up from a reader (to EOF, and with the
// exact size given), reads it back equal, and refuses a stream shorter or
// longer than the size given, or one that fails, committing nothing.
func TestStdinImage(t *testing.T) {
	s := newStore(t)
	img := randBytes(7, 3*65536+100) // chunk size: see Options.FixedSize below
	copy(img[65536:], make([]byte, 65536))
	run := func(at int, r *bytes.Reader, size int64) error {
		w, err := s.Begin(group, when.Add(time.Duration(at)*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Run(context.Background(), w, Options{Group: group, Time: when.Add(time.Duration(at) * time.Hour), FixedSize: 65536,
			Archives: []Spec{{Name: "d.img", Path: StdinPath}}, Stdin: r, StdinSize: size}, &Stats{})
		return err
	}
	for i, size := range []int64{0, int64(len(img))} {
		if err := run(i, bytes.NewReader(img), size); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		snap, err := OpenSnapshot(s, group, when.Add(time.Duration(i)*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		r, err := snap.Image("d.img")
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(img)+1)
		n, _ := r.ReadAt(got, 0)
		if !bytes.Equal(got[:n], img) {
			t.Fatalf("size %d: read back %d bytes, not the image of %d", size, n, len(img))
		}
	}
	for i, size := range []int64{int64(len(img)) - 1, int64(len(img)) + 1} {
		if err := run(10+i, bytes.NewReader(img), size); !errors.Is(err, ErrStdinSize) {
			t.Fatalf("size %d for %d bytes: %v, want ErrStdinSize", size, len(img), err)
		}
	}
	times, err := s.Snapshots(group)
	if err != nil || len(times) != 2 {
		t.Fatalf("snapshots %v, %v: want the two good ones only", times, err)
	}
	w, _ := s.Begin(group, when.Add(20*time.Hour))
	_, err = Run(context.Background(), w, Options{Group: group, Time: when.Add(20 * time.Hour),
		Archives: []Spec{{Name: "d.img", Path: StdinPath}}, Stdin: iotest.TimeoutReader(bytes.NewReader(img))}, &Stats{})
	if !errors.Is(err, iotest.ErrTimeout) {
		t.Fatalf("failing reader: %v", err)
	}
}
