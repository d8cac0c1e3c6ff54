package backup

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// Source is where snapshots are read from: the datastore (store.Store)
// now, the network client later.
type Source interface {
	ReadFile(g catalog.Group, t time.Time, name string) ([]byte, error)
	Chunk(d catalog.Digest) ([]byte, error)
}

// Repository is a Source that also lists: the datastore, or the network
// client. Groups are sorted; Snapshots are oldest first, and a group with
// none (or unknown) is an error wrapping store.ErrNotFound.
type Repository interface {
	Source
	Groups() ([]catalog.Group, error)
	Snapshots(g catalog.Group) ([]time.Time, error)
}

// Keyed is a Source that reads sealed snapshots with a key: its
// fingerprint (seal.Sealer's). A Source without it reads plain snapshots
// only.
type Keyed interface {
	KeyFingerprint() string
}

// ErrKey reports a sealed snapshot opened without its key, or with another.
var ErrKey = errors.New("backup: snapshot sealed with another key")

// keyOf is the fingerprint src reads with ("" for none).
func keyOf(src Source) string {
	if k, ok := src.(Keyed); ok {
		return k.KeyFingerprint()
	}
	return ""
}

// Snapshot is one snapshot opened for reading; its manifest is validated.
type Snapshot struct {
	src      Source
	Group    catalog.Group
	Time     time.Time
	Manifest *catalog.Manifest
}

// OpenSnapshot reads and validates a snapshot's manifest. A sealed
// snapshot needs a Source with its key (Keyed): anything else is ErrKey
// at once, rather than a failure at the first chunk.
func OpenSnapshot(src Source, g catalog.Group, t time.Time) (*Snapshot, error) {
	s, err := OpenSnapshotMeta(src, g, t)
	if err != nil {
		return nil, err
	}
	if m := s.Manifest; m.Key != "" && m.Key != keyOf(src) {
		if keyOf(src) == "" {
			return nil, fmt.Errorf("snapshot %s/%s is sealed with key %s: give its key file (--keyfile or BACKUPFS_KEYFILE): %w",
				g, catalog.FormatTime(t), m.Key, ErrKey)
		}
		return nil, fmt.Errorf("snapshot %s/%s is sealed with key %s, the key file holds %s: %w",
			g, catalog.FormatTime(t), m.Key, keyOf(src), ErrKey)
	}
	return s, nil
}

// OpenSnapshotMeta is OpenSnapshot for a reader of the manifest and index
// files only (sizes, chunk lists: snapshots, stats), which a sealed
// snapshot leaves readable without its key. Its chunks still need the key.
func OpenSnapshotMeta(src Source, g catalog.Group, t time.Time) (*Snapshot, error) {
	b, err := src.ReadFile(g, t, catalog.ManifestName)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s/%s: %w", g, catalog.FormatTime(t), err)
	}
	m, err := catalog.DecodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s/%s: %w", g, catalog.FormatTime(t), err)
	}
	if m.Group != g.String() || m.Time != catalog.FormatTime(t) {
		return nil, fmt.Errorf("snapshot %s/%s: %w: manifest names %s/%s", g, catalog.FormatTime(t), catalog.ErrFormat, m.Group, m.Time)
	}
	return &Snapshot{src: src, Group: g, Time: t, Manifest: m}, nil
}

// Archive returns the named archive's manifest entry.
func (s *Snapshot) Archive(name string) (*catalog.Archive, error) {
	a, ok := s.Manifest.Archive(name)
	if !ok {
		return nil, fmt.Errorf("snapshot %s/%s: archive %s: %w", s.Group, catalog.FormatTime(s.Time), name, catalog.ErrNotExist)
	}
	return a, nil
}

// index reads an index file, checks it against the manifest and decodes it.
func (s *Snapshot) index(a *catalog.Archive, f catalog.IndexFile, kind string) (catalog.Index, error) {
	b, err := s.src.ReadFile(s.Group, s.Time, f.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	if sum := sha256.Sum256(b); int64(len(b)) != f.Size || !bytes.Equal(sum[:], f.SHA256[:]) {
		return nil, fmt.Errorf("%s: %w: does not match the manifest", f.Name, catalog.ErrChecksum)
	}
	if kind == catalog.KindImage {
		x, err := catalog.DecodeFixedIndex(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		return x, nil
	}
	x, err := catalog.DecodeDynamicIndex(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return x, nil
}

// Indexes reads an archive's index files (one for an image; catalog and
// payload for a tree), each checked against the manifest's SHA-256.
func (s *Snapshot) Indexes(name string) (*catalog.Archive, []catalog.Index, error) {
	a, err := s.Archive(name)
	if err != nil {
		return nil, nil, err
	}
	out := make([]catalog.Index, len(a.Files))
	for i, f := range a.Files {
		if out[i], err = s.index(a, f, a.Kind); err != nil {
			return nil, nil, err
		}
	}
	return a, out, nil
}

// Image opens an image archive as a stream.
func (s *Snapshot) Image(name string) (*Stream, error) {
	a, err := s.Archive(name)
	if err != nil {
		return nil, err
	}
	if a.Kind != catalog.KindImage {
		return nil, fmt.Errorf("archive %s is a %s archive, not an image", name, a.Kind)
	}
	x, err := s.index(a, a.Files[0], a.Kind)
	if err != nil {
		return nil, err
	}
	if x.Size() != a.Size {
		return nil, fmt.Errorf("%s: %w: index size %d, manifest says %d", name, catalog.ErrFormat, x.Size(), a.Size)
	}
	return NewStream(s.src, x, name, readahead), nil
}

// readahead is how many chunks a sequential reader of an image or payload
// stream has in flight: fetched at low priority, which the network client
// batches 16 to a request with 4 requests in flight, so 32 keeps two
// batches going (about 5 MiB at the tree chunker's 155 KiB median).
const readahead = 32

// Tree is a tree archive opened for reading.
type Tree struct {
	Name    string
	Catalog *catalog.TreeReader
	Payload *Stream
}

// Tree opens a tree archive: its catalog (only the trailer is read now)
// and its payload stream.
func (s *Snapshot) Tree(name string) (*Tree, error) { return s.tree(name, keepChunks) }

// tree opens a tree archive whose catalog stream keeps up to keep chunks:
// a reader that visits directory tables in walk order comes back to the
// same chunks (tables are written children first).
func (s *Snapshot) tree(name string, keep int) (*Tree, error) {
	a, err := s.Archive(name)
	if err != nil {
		return nil, err
	}
	if a.Kind != catalog.KindTree {
		return nil, fmt.Errorf("archive %s is a %s archive, not a tree", name, a.Kind)
	}
	mx, err := s.index(a, a.Files[0], a.Kind)
	if err != nil {
		return nil, err
	}
	px, err := s.index(a, a.Files[1], a.Kind)
	if err != nil {
		return nil, err
	}
	meta := NewStream(s.src, mx, name+" catalog", 0) // read at random
	meta.keep = keep
	cat, err := catalog.NewTreeReader(meta, int64(mx.Size()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Tree{Name: name, Catalog: cat, Payload: NewStream(s.src, px, name, readahead)}, nil
}
