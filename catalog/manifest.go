package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// ManifestVersion is the manifest format version this build writes and reads.
const ManifestVersion = 1

// MaxManifestSize bounds an encoded manifest; decoders refuse larger input.
const MaxManifestSize = 1 << 20

// MaxArchives bounds the number of archives in one snapshot.
const MaxArchives = 1024

// ManifestName is the file name of a snapshot's manifest.
const ManifestName = "manifest.json"

// Manifest describes one snapshot. It is stored as JSON (UTF-8, at most
// MaxManifestSize bytes) in the snapshot directory:
//
//	{
//	  "version": 1,
//	  "group": "vm/100",
//	  "time": "2026-11-21T10:00:00Z",
//	  "created_by": "backupfs 0.1 (linux/amd64) host=pve1",
//	  "archives": [
//	    {"name": "drive-scsi0.img", "kind": "img", "size": 34359738368,
//	     "files": [{"name": "drive-scsi0.img.fidx", "size": 262200, "sha256": "<64 hex>"}]},
//	    {"name": "root.tree", "kind": "tree", "size": 1234,
//	     "files": [{"name": "root.tree.meta.didx", ...}, {"name": "root.tree.payload.didx", ...}]}
//	  ]
//	}
//
// An image archive has one fixed index file; a tree archive has two dynamic
// index files, the metadata catalog stream first and the payload stream
// second. size is the image size, or the payload size of a tree. Readers
// check every index file against its sha256 here and never trust an index
// header alone.
type Manifest struct {
	Version   int    `json:"version"`
	Group     string `json:"group"`
	Time      string `json:"time"`
	CreatedBy string `json:"created_by"`
	// Key is the fingerprint (32 hex digits) of the key that sealed the
	// snapshot's chunks (package seal); empty for a plain snapshot. A
	// build that predates it refuses the field, so it never half-reads a
	// sealed snapshot.
	Key      string    `json:"key,omitempty"`
	Archives []Archive `json:"archives"`
	// Note and Tags describe the snapshot for people (backup --note,
	// --tag; changed later by backupfs tag): at most MaxNoteLen bytes,
	// and at most MaxTags tags of ValidTag form.
	Note string   `json:"note,omitempty"`
	Tags []string `json:"tags,omitempty"`
}

// Bounds of a manifest's note and tags.
const (
	MaxNoteLen = 1024
	MaxTags    = 32
	MaxTagLen  = 64
)

// ValidTag checks a tag: 1..MaxTagLen bytes of letters, digits, '.', '_',
// '-', '+', '=', ':' (no commas or spaces: lists are comma-separated).
func ValidTag(t string) error {
	if t == "" || len(t) > MaxTagLen {
		return fmt.Errorf("%w: tag %q: want 1..%d characters", ErrName, t, MaxTagLen)
	}
	for _, c := range t {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-+=:", c)
		if !ok {
			return fmt.Errorf("%w: tag %q: only letters, digits and the characters in %q", ErrName, t, "._-+=:")
		}
	}
	return nil
}

// Archive is one archive of a snapshot.
type Archive struct {
	Name  string      `json:"name"`
	Kind  string      `json:"kind"`
	Size  uint64      `json:"size"`
	Files []IndexFile `json:"files"`
}

// IndexFile names one index file of an archive and its checksum.
type IndexFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 Digest `json:"sha256"`
}

// Index file name suffixes.
const (
	FixedIndexSuffix   = ".fidx"
	MetaIndexSuffix    = ".meta.didx"
	PayloadIndexSuffix = ".payload.didx"
)

// IndexFileNames returns the index file names an archive must have.
func IndexFileNames(archive, kind string) []string {
	if kind == KindImage {
		return []string{archive + FixedIndexSuffix}
	}
	return []string{archive + MetaIndexSuffix, archive + PayloadIndexSuffix}
}

// Archive returns the named archive.
func (m *Manifest) Archive(name string) (*Archive, bool) {
	for i := range m.Archives {
		if m.Archives[i].Name == name {
			return &m.Archives[i], true
		}
	}
	return nil, false
}

// SnapshotTime returns the parsed snapshot time.
func (m *Manifest) SnapshotTime() (time.Time, error) { return ParseTime(m.Time) }

// Validate checks the manifest's names, counts and index file names.
func (m *Manifest) Validate() error {
	if m.Version != ManifestVersion {
		return fmt.Errorf("%w: manifest version %d, this build reads %d", ErrVersion, m.Version, ManifestVersion)
	}
	if _, err := ParseGroup(m.Group); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if _, err := ParseTime(m.Time); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if len(m.Note) > MaxNoteLen || len(m.Tags) > MaxTags {
		return fmt.Errorf("%w: manifest: note of %d bytes or %d tags (at most %d, %d)", ErrFormat, len(m.Note), len(m.Tags), MaxNoteLen, MaxTags)
	}
	for _, t := range m.Tags {
		if err := ValidTag(t); err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
	}
	if m.Key != "" && !isFingerprint(m.Key) {
		return fmt.Errorf("%w: manifest: key %q is not a fingerprint of 32 hex digits", ErrFormat, m.Key)
	}
	if len(m.Archives) > MaxArchives {
		return fmt.Errorf("%w: manifest: %d archives, at most %d", ErrFormat, len(m.Archives), MaxArchives)
	}
	seen := make(map[string]bool, len(m.Archives))
	for _, a := range m.Archives {
		kind, err := ArchiveKind(a.Name)
		if err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		if kind != a.Kind || seen[a.Name] {
			return fmt.Errorf("%w: manifest: archive %q: kind %q or duplicate", ErrFormat, a.Name, a.Kind)
		}
		seen[a.Name] = true
		want := IndexFileNames(a.Name, kind)
		if len(a.Files) != len(want) {
			return fmt.Errorf("%w: manifest: archive %q: %d index files, want %d", ErrFormat, a.Name, len(a.Files), len(want))
		}
		for i, f := range a.Files {
			if f.Name != want[i] || f.Size < 0 {
				return fmt.Errorf("%w: manifest: archive %q: index file %q, want %q", ErrFormat, a.Name, f.Name, want[i])
			}
		}
	}
	return nil
}

// EncodeManifest validates and encodes m.
func EncodeManifest(m *Manifest) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return append(b, '\n'), nil
}

// DecodeManifest decodes and validates a manifest. Unknown fields are
// refused so a newer format is not half-read.
func DecodeManifest(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("%w: manifest of %d bytes, at most %d", ErrFormat, len(b), MaxManifestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrFormat, err)
	}
	// dec.More() would accept a stray "]" or "}" (and anything after it):
	// only end of input may follow the object.
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: manifest: trailing data", ErrFormat)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// isFingerprint reports whether s is 32 lowercase hex digits.
func isFingerprint(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
