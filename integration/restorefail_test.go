package integration

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/backupfs/backupfs/store"
)

// TestRestoreCorruptFile: one chunk of one file is corrupt in the
// datastore. A tree restore, local and over the network, leaves that file
// absent (no 0-byte or partial file under its name, no temporary file),
// restores every other file byte for byte, names the failed file on
// stderr and exits non-zero.
func TestRestoreCorruptFile(t *testing.T) {
	src := t.TempDir()
	files := map[string][]byte{
		"a.txt":       []byte("alpha\n"),
		"sub/d.txt":   bytes.Repeat([]byte("delta "), 20000),
		"z-last.txt":  []byte("restored after the damaged file\n"),
		"sub/e/f.txt": []byte("deep\n"),
	}
	if err := os.MkdirAll(filepath.Join(src, "sub", "e"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeRandom(t, filepath.Join(src, "m-damaged.bin"), 8<<20, 7)
	writeRandom(t, filepath.Join(src, "sub", "c.bin"), 2<<20, 8)
	for name := range files {
		files[name] = nil // compared with the source below
	}
	files["sub/c.bin"] = nil

	ds := NewDatastore(t)
	MustRun(t, "backup", "--datastore", ds, "/host/r", "r.tree:"+src)
	damaged, err := os.ReadFile(filepath.Join(src, "m-damaged.bin"))
	if err != nil {
		t.Fatal(err)
	}
	flipAt(t, chunkInside(t, ds, damaged), -1)

	srv := StartServer(t, ds)
	tok := srv.Token("r", "read:*")
	for _, remote := range []bool{false, true} {
		name := map[bool]string{false: "local", true: "network"}[remote]
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			var r Result
			if remote {
				r = srv.Client(tok, "restore", srv.Repo("/host/r/latest/r.tree"), out)
			} else {
				r = Run(t, "restore", "--datastore", ds, "/host/r/latest/r.tree", out)
			}
			if r.Code == 0 || !strings.Contains(r.Stderr, filepath.Join(out, "m-damaged.bin")) {
				t.Fatalf("restore with a corrupt chunk: exit %d, stderr:\n%s\nwant a non-zero exit naming m-damaged.bin", r.Code, r.Stderr)
			}
			var got []string
			filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					got = append(got, strings.TrimPrefix(p, out+"/"))
				}
				return err
			})
			want := make([]string, 0, len(files))
			for f := range files {
				want = append(want, f)
			}
			sort.Strings(want)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("restored files %q, want %q (the damaged file absent, no temporary file)\nstderr:\n%s", got, want, r.Stderr)
			}
			for _, f := range want {
				Sh(t, "cmp", filepath.Join(src, f), filepath.Join(out, f))
			}
			t.Logf("stderr:\n%s", r.Stderr)
		})
	}
}

// chunkInside returns the path of a chunk file of ds whose bytes lie
// wholly inside data (random data: stored raw, after the blob header).
func chunkInside(t *testing.T, ds string, data []byte) string {
	t.Helper()
	var found string
	filepath.WalkDir(filepath.Join(ds, ".chunks"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && len(b) > store.BlobHeaderSize+4096 && bytes.Contains(data, b[store.BlobHeaderSize:]) {
			found = p
		}
		return err
	})
	if found == "" {
		t.Fatal("no chunk lies wholly inside the file")
	}
	return found
}
