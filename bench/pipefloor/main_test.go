package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/chunker"
	"github.com/backupfs/backupfs/store"
)

const chunk = 64 << 10

// fixture backs up a tree (big/f.bin among others) and an image with an
// all-zero chunk and a repeated one into a new datastore.
func fixture(t *testing.T) (st *store.Store, file, image []byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	file = append(random(200<<10), make([]byte, 100<<10)...) // zeros in the middle
	file = append(file, random(150<<10)...)
	for name, data := range map[string][]byte{"a.txt": random(30 << 10), "big/f.bin": file, "z.txt": random(50 << 10)} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	one := random(chunk)
	image = bytes.Join([][]byte{random(chunk), make([]byte, chunk), one, one, random(chunk / 2)}, nil)
	imgPath := filepath.Join(tmp, "disk")
	if err := os.WriteFile(imgPath, image, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := store.Init(filepath.Join(tmp, "ds"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g, _ := catalog.ParseGroup("host/x")
	w, err := st.Begin(g, at)
	if err != nil {
		t.Fatal(err)
	}
	_, err = backup.Run(context.Background(), w, backup.Options{Group: g, Time: at,
		Archives:  []backup.Spec{{Name: "data.tree", Path: src}, {Name: "disk.img", Path: imgPath}},
		Params:    chunker.Params{Min: 4 << 10, Avg: 16 << 10, Max: 64 << 10},
		FixedSize: chunk}, &backup.Stats{})
	if err != nil {
		t.Fatal(err)
	}
	return st, file, image
}

// selected selects the chunks of archive (and path) in fixture's store and
// checks that a reader gets want bytes.
func selected(t *testing.T, st *store.Store, archive, path string, want int) work {
	t.Helper()
	w, err := selectChunks(st, "host/x", archive, path)
	if err != nil {
		t.Fatal(err)
	}
	if w.bytes != int64(want) {
		t.Errorf("%s %s: bytes %d, want %d", archive, path, w.bytes, want)
	}
	return w
}

func TestImageChunks(t *testing.T) {
	st, _, image := fixture(t)
	w := selected(t, st, "disk.img", "", len(image))
	// The chunks a reader fetches: distinct and not all zeros.
	want := []catalog.Digest{catalog.Sum(image[:chunk]), catalog.Sum(image[2*chunk : 3*chunk]), catalog.Sum(image[4*chunk:])}
	if len(w.digests) != len(want) {
		t.Fatalf("%d chunks, want %d", len(w.digests), len(want))
	}
	for i := range want {
		if w.digests[i] != want[i] {
			t.Errorf("chunk %d is %s, want %s", i, w.digests[i], want[i])
		}
	}
	res, err := transfer(st, w.digests, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.plainBytes != int64(2*chunk+chunk/2) {
		t.Errorf("verified %d plain bytes, want %d", res.plainBytes, 2*chunk+chunk/2)
	}
	read, err := readBlobs(st, w.digests, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if read.blobBytes != res.blobBytes || read.plainBytes != 0 {
		t.Errorf("read-only: %d blob bytes, %d plain; the transfer sent %d blob bytes", read.blobBytes, read.plainBytes, res.blobBytes)
	}
}

func TestFileChunks(t *testing.T) {
	st, file, _ := fixture(t)
	w := selected(t, st, "data.tree", "big/f.bin", len(file))
	// The chunks, decoded in order, hold the file: they may start before
	// it and end after it (a tree's chunks span files); the all-zero one
	// in the middle is left out.
	var got []byte
	for _, d := range w.digests {
		b, err := st.Chunk(d)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b...)
	}
	if !bytes.Contains(got, file[:200<<10]) || !bytes.Contains(got, file[300<<10:]) {
		t.Fatalf("the %d chunks (%d bytes) do not hold the file's data", len(w.digests), len(got))
	}
	if len(got) > len(file)+2*(64<<10) {
		t.Errorf("%d bytes of chunks for a %d-byte file: more than one chunk each side", len(got), len(file))
	}
	res, err := transfer(st, w.digests, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.plainBytes != int64(len(got)) || res.blobBytes == 0 {
		t.Errorf("verified %d plain bytes (%d blob), want %d", res.plainBytes, res.blobBytes, len(got))
	}
}

func TestSelectErrors(t *testing.T) {
	st, _, _ := fixture(t)
	for _, tc := range []struct{ group, archive, path, want string }{
		{"host/x", "disk.img", "a.txt", "is an image"},
		{"host/x", "data.tree", "", "name a file"},
		{"host/x", "data.tree", "big", "not a file"},
		{"host/x", "data.tree", "nope", "nope"},
		{"host/x", "other.img", "", "other.img"},
		{"host/y", "disk.img", "", ""},
		{"../x", "disk.img", "", ""},
	} {
		if _, err := selectChunks(st, tc.group, tc.archive, tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s %q: error %v, want one saying %q", tc.group, tc.archive, tc.path, err, tc.want)
		}
	}
}

// A corrupt blob stops the transfer with an error, on either end.
func TestCorruptChunk(t *testing.T) {
	st, _, image := fixture(t)
	w := selected(t, st, "disk.img", "", len(image))
	h := w.digests[1].String()
	p := filepath.Join(st.Dir(), ".chunks", h[:4], h)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := transfer(st, w.digests, 2, 2); err == nil || !strings.Contains(err.Error(), h) {
		t.Fatalf("transfer of a corrupt chunk: %v, want an error naming %s", err, h)
	}
}

func TestNotADatastore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	if err := run(dir, "host/x", "disk.img", "", 4, false); err == nil {
		t.Fatal("no error for a directory that is not a datastore")
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("run made a datastore where there was none")
	}
}
