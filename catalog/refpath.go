package catalog

import (
	"fmt"
	"strings"
)

// Latest is the snapshot time alias for a group's newest snapshot.
const Latest = "latest"

// Ref is a parsed repository path /TYPE/ID/TIME/ARCHIVE/PATH; every part
// after the first may be empty, and a part is set only if those before it
// are. Time is a canonical snapshot time or Latest; it is resolved by
// whoever lists the snapshots.
type Ref struct {
	Type, ID, Time, Archive, Path string
}

// ParseRef parses and validates "/TYPE[/ID[/TIME[/ARCHIVE[/PATH]]]]".
// "" and "/" give the empty Ref (the datastore's root).
func ParseRef(s string) (Ref, error) {
	var r Ref
	if strings.ContainsRune(s, 0) {
		return r, fmt.Errorf("%w: path contains NUL", ErrName)
	}
	if s != "" && !strings.HasPrefix(s, "/") {
		return r, fmt.Errorf("%w: %q: want /TYPE/ID/TIME/ARCHIVE/PATH", ErrName, printable(s))
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "/"), "/")
	if s == "" {
		return r, nil
	}
	parts := strings.SplitN(s, "/", 5)
	dst := []*string{&r.Type, &r.ID, &r.Time, &r.Archive, &r.Path}
	for i, p := range parts {
		if p == "" {
			// "/vm/100/TIME//x" must not read as /vm/100/TIME: a forget
			// of it would remove that snapshot.
			return Ref{}, fmt.Errorf("%w: %q: empty element", ErrName, printable("/"+s))
		}
		*dst[i] = p
	}
	return r, r.validate()
}

func (r Ref) validate() error {
	if err := ValidType(r.Type); err != nil {
		return err
	}
	if r.ID == "" {
		return nil
	}
	if err := ValidID(r.ID); err != nil {
		return err
	}
	if r.Time == "" {
		return nil
	}
	if r.Time != Latest {
		if _, err := ParseTime(r.Time); err != nil {
			return err
		}
	}
	if r.Archive == "" {
		return nil
	}
	kind, err := ArchiveKind(r.Archive)
	if err != nil {
		return err
	}
	if r.Path != "" && kind != KindTree {
		return fmt.Errorf("%w: %s is an image archive: no path inside it", ErrName, r.Archive)
	}
	return ValidPath(r.Path)
}

// Group returns the ref's group; valid only if Type and ID are set.
func (r Ref) Group() Group { return Group{Type: r.Type, ID: r.ID} }

// String writes the ref back as a path.
func (r Ref) String() string {
	s := ""
	for _, p := range []string{r.Type, r.ID, r.Time, r.Archive, r.Path} {
		if p == "" {
			break
		}
		s += "/" + p
	}
	if s == "" {
		return "/"
	}
	return s
}
