// Package storetest is the conformance suite for store.Datastore
// implementations: the directory store and the object store run the same
// tests (as backup/sourcetest does for repositories). It builds real
// snapshots through the Datastore's own Writer and fakes nothing; what it
// cannot do through the interface (age the store's objects, damage a
// stored chunk) the implementation's test provides in a Harness, by the
// means its backend has (a fake clock or file mtimes, writing the chunk's
// file or object by hand).
package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// Harness is one new, empty datastore under test and the backend's means
// to change it behind the store's back.
type Harness struct {
	Store store.Datastore
	// Age makes everything the store holds d older by the time its GC
	// goes by (the store's clock moves forward, or its objects' times move
	// back); what is written or touched afterwards is young again.
	Age func(d time.Duration)
	// Corrupt changes one byte of a stored chunk's payload.
	Corrupt func(d catalog.Digest)
	// Delete removes a stored chunk by hand.
	Delete func(d catalog.Digest)
	// Reopen opens the same datastore again, as another process would
	// (a new cache, no writers): a listing must not depend on memory.
	Reopen func() store.Datastore
}

// Open returns a new, empty datastore for one test.
type Open func(t *testing.T) *Harness

// Run runs every conformance test, each on a datastore of its own.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		run  func(*testing.T, *Harness)
	}{
		{"Chunks", testChunks},
		{"CorruptChunk", testCorruptChunk},
		{"ForgedSealedBlob", testForgedSealedBlob},
		{"Begin", testBegin},
		{"PublishAtomic", testPublishAtomic},
		{"MissingChunks", testMissingChunks},
		{"Confined", testConfined},
		{"Abort", testAbort},
		{"Listings", testListings},
		{"Forget", testForget},
		{"Prune", testPrune},
		{"Protect", testProtect},
		{"Annotate", testAnnotate},
		{"Verify", testVerify},
		{"VerifyOutdated", testVerifyOutdated},
		{"GC", testGC},
		{"GCInProgress", testGCInProgress},
		{"GCOldestWriter", testGCOldestWriter},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

// Epoch is the time of the first snapshot the suite writes.
var Epoch = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

var (
	vm100 = catalog.Group{Type: "vm", ID: "100"}
	hostA = catalog.Group{Type: "host", ID: "a"}
	ct7   = catalog.Group{Type: "ct", ID: "7"}
)

// Chunks returns n distinct, compressible chunk contents.
func Chunks(tag string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat(fmt.Appendf(nil, "%s-%d;", tag, i), 500)
	}
	return out
}

// Stage writes a snapshot with one tree archive "root.tree" whose payload
// stream is made of chunks and whose metadata stream is one chunk, and
// returns the manifest to commit. It uploads the payload chunks if upload
// (the metadata chunk always).
func Stage(w store.Writer, g catalog.Group, at time.Time, chunks [][]byte, upload bool) (*catalog.Manifest, error) {
	meta := []byte("meta of " + g.String() + catalog.FormatTime(at))
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
	for i, b := range [][]byte{mw.Encode(Epoch), pw.Encode(Epoch)} {
		if err := w.WriteFile(files[i], b); err != nil {
			return nil, err
		}
		a.Files = append(a.Files, catalog.IndexFile{Name: files[i], Size: int64(len(b)), SHA256: catalog.Sum(b)})
	}
	return &catalog.Manifest{Version: catalog.ManifestVersion, Group: g.String(),
		Time: catalog.FormatTime(at), CreatedBy: "storetest", Archives: []catalog.Archive{a}}, nil
}

// Backup writes and commits a snapshot of chunks.
func Backup(t testing.TB, s store.Datastore, g catalog.Group, at time.Time, chunks [][]byte) {
	t.Helper()
	w, err := s.Begin(g, at)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Stage(w, g, at, chunks, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(m); err != nil {
		t.Fatal(err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func hour(i int) time.Time { return Epoch.Add(time.Duration(i) * time.Hour) }

// has reports whether the store holds d, failing the test on an error.
func has(t testing.TB, s store.Datastore, d catalog.Digest) bool {
	t.Helper()
	ok, err := s.HasChunk(d)
	must(t, err)
	return ok
}
