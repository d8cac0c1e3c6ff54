package catalog

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Group types a datastore knows.
var GroupTypes = []string{"vm", "ct", "host"}

// Group names a backup group: "<type>/<id>", e.g. vm/100.
type Group struct {
	Type string
	ID   string
}

// String returns "type/id".
func (g Group) String() string { return g.Type + "/" + g.ID }

// Validate checks the type and id against the data model.
func (g Group) Validate() error {
	if err := ValidType(g.Type); err != nil {
		return err
	}
	return ValidID(g.ID)
}

// ParseGroup parses "type/id" (a leading slash is allowed).
func ParseGroup(s string) (Group, error) {
	t, id, ok := strings.Cut(strings.TrimPrefix(s, "/"), "/")
	if !ok {
		return Group{}, fmt.Errorf("%w: group %q: want TYPE/ID", ErrName, printable(s))
	}
	g := Group{Type: t, ID: id}
	return g, g.Validate()
}

// ValidType checks a group type.
func ValidType(t string) error {
	for _, k := range GroupTypes {
		if t == k {
			return nil
		}
	}
	return fmt.Errorf("%w: group type %q: want one of %s", ErrName, printable(t), strings.Join(GroupTypes, ", "))
}

// MaxIDLen bounds a group id.
const MaxIDLen = 128

// ValidID checks a group id: [A-Za-z0-9_][A-Za-z0-9._-]*, at most MaxIDLen bytes.
func ValidID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("%w: id %q: want 1 to %d characters", ErrName, printable(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' ||
			i > 0 && (c == '.' || c == '-')
		if !ok {
			return fmt.Errorf("%w: id %q: character %q at %d not allowed", ErrName, printable(id), c, i)
		}
	}
	return nil
}

// TimeLayout is how a snapshot time is written: RFC 3339, UTC, seconds.
const TimeLayout = "2006-01-02T15:04:05Z"

// FormatTime writes t as a snapshot name.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime parses a snapshot name written by FormatTime. It accepts only
// the canonical form, so one snapshot has exactly one name.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeLayout, s)
	if err != nil || FormatTime(t) != s {
		return time.Time{}, fmt.Errorf("%w: snapshot time %q: want e.g. 2026-11-21T10:00:00Z", ErrName, printable(s))
	}
	return t, nil
}

// Archive kinds, given by the archive name's suffix.
const (
	KindImage = "img"
	KindTree  = "tree"
)

// MaxArchiveNameLen bounds an archive name.
const MaxArchiveNameLen = 128

// ArchiveKind validates an archive name (NAME.img or NAME.tree, NAME as a
// group id) and returns its kind.
func ArchiveKind(name string) (string, error) {
	base, kind, ok := cutLast(name, ".")
	if !ok || (kind != KindImage && kind != KindTree) {
		return "", fmt.Errorf("%w: archive %q: want NAME.img or NAME.tree", ErrName, printable(name))
	}
	if len(name) > MaxArchiveNameLen || ValidID(base) != nil {
		return "", fmt.Errorf("%w: archive %q: NAME must match [A-Za-z0-9_][A-Za-z0-9._-]*", ErrName, printable(name))
	}
	return kind, nil
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// ValidPath checks a slash-separated path inside an archive: relative, no
// empty, "." or ".." elements, no NUL, valid UTF-8 is not required (file
// names are bytes) but the length is bounded. "" and "." mean the root.
func ValidPath(p string) error {
	if p == "" || p == "." {
		return nil
	}
	if len(p) > 4096 || strings.ContainsRune(p, 0) || strings.HasPrefix(p, "/") {
		return fmt.Errorf("%w: path %q: must be relative, without NUL, under 4096 bytes", ErrName, printable(p))
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("%w: path %q: empty, . or .. element", ErrName, printable(p))
		}
	}
	return nil
}

func printable(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	if !utf8.ValidString(s) {
		return strings.ToValidUTF8(s, "?")
	}
	return s
}
