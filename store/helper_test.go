package store

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// clock is a fake clock for Options.Now; step (if set) advances it on
// every reading, so concurrent tests see time pass.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

var epoch = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newStore opens a datastore in a temp dir with a fake clock at epoch.
func newStore(t testing.TB) (*Store, *clock) {
	t.Helper()
	c := &clock{t: epoch}
	s, err := Init(t.TempDir(), Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

var vm100 = catalog.Group{Type: "vm", ID: "100"}

// chunkData returns distinct, compressible chunk contents.
func chunkData(tag string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte(fmt.Sprintf("%s-%d;", tag, i)), 500)
	}
	return out
}

func digests(chunks [][]byte) []catalog.Digest {
	out := make([]catalog.Digest, len(chunks))
	for i, c := range chunks {
		out[i] = catalog.Sum(c)
	}
	return out
}

// stage writes a snapshot with one tree archive "root.tree" whose payload
// stream is made of chunks and whose metadata stream is one chunk, and
// returns the manifest to commit. It uploads the chunks if upload.
func stage(t testing.TB, w *SnapshotWriter, chunks [][]byte, upload bool) *catalog.Manifest {
	t.Helper()
	m, err := stageErr(w, chunks, upload)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// stageErr is stage for goroutines other than the test's.
func stageErr(w *SnapshotWriter, chunks [][]byte, upload bool) (*catalog.Manifest, error) {
	meta := []byte("meta of " + w.String())
	if _, err := w.PutChunk(catalog.Sum(meta), meta); err != nil {
		return nil, err
	}
	mw, pw := catalog.NewDynamicIndexWriter(), catalog.NewDynamicIndexWriter()
	if err := mw.Add(catalog.Sum(meta), len(meta)); err != nil {
		return nil, err
	}
	for _, c := range chunks {
		if upload {
			if _, err := w.PutChunk(catalog.Sum(c), c); err != nil {
				return nil, err
			}
		}
		if err := pw.Add(catalog.Sum(c), len(c)); err != nil {
			return nil, err
		}
	}
	files := catalog.IndexFileNames("root.tree", catalog.KindTree)
	a := catalog.Archive{Name: "root.tree", Kind: catalog.KindTree, Size: pw.Size()}
	for i, b := range [][]byte{mw.Encode(epoch), pw.Encode(epoch)} {
		if err := w.WriteFile(files[i], b); err != nil {
			return nil, err
		}
		a.Files = append(a.Files, catalog.IndexFile{Name: files[i], Size: int64(len(b)), SHA256: catalog.Sum(b)})
	}
	return &catalog.Manifest{Version: catalog.ManifestVersion, Group: w.g.String(),
		Time: catalog.FormatTime(w.t), CreatedBy: "store test", Archives: []catalog.Archive{a}}, nil
}

// backup writes and commits a snapshot of chunks.
func backup(t testing.TB, s *Store, g catalog.Group, at time.Time, chunks [][]byte) {
	t.Helper()
	w, err := s.Begin(g, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(stage(t, w, chunks, true)); err != nil {
		t.Fatal(err)
	}
}
