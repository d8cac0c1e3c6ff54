package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// knowingWriter is a confined store writer that answers the digest query
// with Know, as the server does for a token that may read everything.
type knowingWriter struct {
	*store.SnapshotWriter
	asked int
	fail  error
}

func (k *knowingWriter) Known(ds []catalog.Digest) ([]bool, error) {
	if k.fail != nil {
		return nil, k.fail
	}
	if len(ds) > knownBatchChunks {
		return nil, errors.New("batch over its bound")
	}
	k.asked += len(ds)
	out := make([]bool, len(ds))
	for i, d := range ds {
		ok, err := k.Know(d)
		if err != nil {
			return nil, err
		}
		out[i] = ok
	}
	return out, nil
}

// TestImageAsksKnown backs up an image into one group, changes one chunk
// in a hundred and backs it up into another group through a confined
// writer that answers the digest query: only the changed chunks are
// stored, the rest are referenced as known, and the confined commit takes
// them. A query that fails fails the backup.
func TestImageAsksKnown(t *testing.T) {
	s := newStore(t)
	const cs, n = 4096, 400
	img := randBytes(11, cs*n)
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	first, err := s.Begin(group, when)
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Group: group, Time: when, FixedSize: cs, Archives: []Spec{{Name: "d.img", Path: path}}}
	if _, err := Run(context.Background(), first, opt, &Stats{}); err != nil {
		t.Fatal(err)
	}
	for i := 50; i < n; i += 100 {
		img[i*cs] ^= 0xff
	}
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	other := catalog.Group{Type: "vm", ID: "clone"}
	w, err := s.Begin(other, when)
	if err != nil {
		t.Fatal(err)
	}
	w.Confine()
	kw := &knowingWriter{SnapshotWriter: w}
	var st Stats
	opt.Group = other
	if _, err := Run(context.Background(), kw, opt, &st); err != nil {
		t.Fatalf("confined backup of the clone: %v", err)
	}
	if st.NewChunks.Load() != 4 || st.KnownChunks.Load() != n-4 || kw.asked != n {
		t.Fatalf("clone: %d new, %d known, %d asked; want 4 new, %d known, %d asked",
			st.NewChunks.Load(), st.KnownChunks.Load(), kw.asked, n-4, n)
	}
	snap, err := OpenSnapshot(s, other, when)
	if err != nil {
		t.Fatal(err)
	}
	r, err := snap.Image("d.img")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(img))
	if _, err := r.ReadAt(got, 0); err != nil || string(got) != string(img) {
		t.Fatalf("clone read back: %v, equal %v", err, string(got) == string(img))
	}
	w3, err := s.Begin(catalog.Group{Type: "vm", ID: "third"}, when)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("query refused")
	opt.Group = catalog.Group{Type: "vm", ID: "third"}
	if _, err := Run(context.Background(), &knowingWriter{SnapshotWriter: w3, fail: boom}, opt, &Stats{}); !errors.Is(err, boom) {
		t.Fatalf("failing query: %v, want it to fail the backup", err)
	}
}
