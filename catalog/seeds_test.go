package catalog

import (
	"bytes"
	"flag"
	"path/filepath"
	"slices"
	"testing"

	"github.com/backupfs/backupfs/internal/fuzzseed"
)

var genSeeds = flag.Bool("gen-seeds", false, "rewrite the fuzz seed corpora under testdata/fuzz")

// TestGenerateFuzzSeeds writes the seed corpora (go test fuzz v1 files):
//
//	go test ./catalog -run TestGenerateFuzzSeeds -gen-seeds
//
// Without the flag it checks that each corpus holds exactly these seeds,
// each file decoding (go test fuzz v1) to the bytes the code makes now.
func TestGenerateFuzzSeeds(t *testing.T) {
	seeds := map[string]map[string][]byte{
		"FuzzDecodeFixedIndex":   fixedSeeds(t),
		"FuzzDecodeDynamicIndex": dynamicSeeds(t),
		"FuzzDecodeManifest":     manifestSeeds(t),
		"FuzzTreeReader":         treeSeeds(t),
	}
	for target, files := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		values := make(map[string]string, len(files))
		for name, b := range files {
			values[name] = string(b)
		}
		if !*genSeeds {
			fuzzseed.Check(t, dir, "[]byte", values)
			checkSeedsDecode(t, target, files)
			continue
		}
		if err := fuzzseed.Write(dir, "[]byte", values); err != nil {
			t.Fatal(err)
		}
	}
}

// seedDecoders decode one seed as its fuzz target does; good names the
// seeds that are valid (the others must be refused).
var seedDecoders = map[string]struct {
	decode func([]byte) error
	good   []string
}{
	"FuzzDecodeFixedIndex": {func(b []byte) error { _, err := DecodeFixedIndex(b); return err },
		[]string{"empty", "one-partial", "three", "big-chunks"}},
	"FuzzDecodeDynamicIndex": {func(b []byte) error { _, err := DecodeDynamicIndex(b); return err },
		[]string{"empty", "one", "five"}},
	"FuzzDecodeManifest": {func(b []byte) error { _, err := DecodeManifest(b); return err },
		[]string{"good", "empty"}},
	"FuzzTreeReader": {func(b []byte) error {
		r, err := NewTreeReader(bytes.NewReader(b), int64(len(b)))
		if err == nil {
			_, err = r.ReadDir(r.Root())
		}
		return err
	}, []string{"every-type", "empty-root"}},
}

// checkSeedsDecode fails unless target's good seeds decode and its bad
// ones are refused (tree seeds probe the reader's walk, not NewTreeReader:
// only the good ones are checked). The encoded manifest decodes and
// re-encodes to the same bytes.
func checkSeedsDecode(t *testing.T, target string, files map[string][]byte) {
	t.Helper()
	d := seedDecoders[target]
	for name, b := range files {
		err := d.decode(b)
		if good := slices.Contains(d.good, name); good && err != nil {
			t.Errorf("%s seed %s: %v; want it to decode", target, name, err)
		} else if !good && err == nil && target != "FuzzTreeReader" {
			t.Errorf("%s seed %s decodes; it was made to be refused", target, name)
		}
	}
	if target == "FuzzDecodeManifest" {
		m, err := DecodeManifest(files["good"])
		if err != nil {
			return
		}
		if again, err := EncodeManifest(m); err != nil || !bytes.Equal(again, files["good"]) {
			t.Errorf("manifest seed good re-encodes to %q, %v; want the seed", again, err)
		}
	}
}

func fixedSeeds(t *testing.T) map[string][]byte {
	three := buildFixed(t, 4096, 2*4096+100)
	return map[string][]byte{
		"empty":        buildFixed(t, 4096, 0),
		"one-partial":  buildFixed(t, 4096, 1),
		"three":        three,
		"big-chunks":   buildFixed(t, MaxChunkSize, MaxChunkSize+1),
		"bad-checksum": patch(three, 40, 0),
		"truncated":    three[:len(three)-1],
	}
}

func dynamicSeeds(t *testing.T) map[string][]byte {
	five := buildDynamic(t, 100, 1, 7, MaxChunkSize, 4096)
	return map[string][]byte{
		"empty":        buildDynamic(t),
		"one":          buildDynamic(t, 1),
		"five":         five,
		"bad-checksum": patch(five, 50, 0),
		"bad-count":    patch(five, 24, 6),
	}
}

func manifestSeeds(t *testing.T) map[string][]byte {
	m := &Manifest{Version: ManifestVersion, Group: "vm/100", Time: "2026-11-21T10:00:00Z", CreatedBy: "seed",
		Archives: []Archive{
			{Name: "drive-scsi0.img", Kind: KindImage, Size: 1 << 30,
				Files: []IndexFile{{Name: "drive-scsi0.img.fidx", Size: 262208, SHA256: Sum([]byte("a"))}}},
			{Name: "root.tree", Kind: KindTree, Size: 1234, Files: []IndexFile{
				{Name: "root.tree.meta.didx", Size: 72, SHA256: Sum([]byte("b"))},
				{Name: "root.tree.payload.didx", Size: 112, SHA256: Sum([]byte("c"))}}},
		}}
	good, err := EncodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"good":    good,
		"empty":   []byte(`{"version":1,"group":"ct/a","time":"2026-01-01T00:00:00Z","created_by":"","archives":[]}`),
		"unknown": []byte(`{"version":1,"extra":true}`),
		"version": []byte(`{"version":2,"group":"ct/a","time":"2026-01-01T00:00:00Z","archives":null}`),
	}
}

func treeSeeds(t *testing.T) map[string][]byte {
	small := testTree()
	small.kids = append(small.kids[:0:0], small.kids...)
	for i, k := range small.kids {
		if k.e.Name == "big" {
			small.kids[i] = bigDir("big", 3)
		}
	}
	cat, _, _ := buildTree(t, small)
	sub := rawTable(rawEntry(fileEntry("x")))
	dirAt := func(ref DirRef) []byte { return rawEntry(Entry{Name: "d", Type: TypeDir, Dir: ref}) }
	shared := append(sub, rawTable(
		rawEntry(Entry{Name: "a", Type: TypeDir, Dir: DirRef{0, uint64(len(sub))}}),
		rawEntry(Entry{Name: "b", Type: TypeDir, Dir: DirRef{0, uint64(len(sub))}}))...)
	empty, _, _ := buildTree(t, dir("", 0o755))
	seeds := map[string][]byte{
		"every-type":    cat,
		"empty-root":    empty,
		"shared-table":  rawCatalog(shared, DirRef{uint64(len(sub)), uint64(len(shared) - len(sub))}),
		"forward-ref":   rawCatalog(append(rawTable(dirAt(DirRef{70, uint64(len(sub))})), sub...), DirRef{0, 70}),
		"unsorted":      oneDir(rawEntry(fileEntry("b")), rawEntry(fileEntry("a"))),
		"symlink-loop":  mustTree(t, dir("", 0o755, symlink("a", "b"), symlink("b", "a"))),
		"huge-file":     oneDir(mutated(fileEntry("f"), func(e *Entry) { e.Size = 1 << 62 })),
		"truncated":     cat[:len(cat)-1],
		"trailer-only":  cat[len(cat)-TreeTrailerSize:],
		"xattr-at-max":  oneDir(mutated(fileEntry("x"), func(e *Entry) { e.Xattrs = []Xattr{{"user.v", make([]byte, 100)}} })),
		"hardlink-only": oneDir(rawEntry(Entry{Name: "h", Type: TypeHardlink, Hardlink: "a/b", Size: 3})),
	}
	for name, b := range seeds {
		if len(b) > 64<<10 {
			t.Fatalf("seed %s is %d bytes; keep seeds small", name, len(b))
		}
	}
	return seeds
}

func mustTree(t *testing.T, root *node) []byte {
	cat, _, _ := buildTree(t, root)
	return cat
}
