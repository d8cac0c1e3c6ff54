package inspect

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/backupfs/backupfs/catalog"
)

// ErrPattern reports a pattern path.Match cannot parse.
var ErrPattern = errors.New("inspect: bad pattern")

// Pattern is a compiled find pattern (see the package doc).
type Pattern struct {
	glob  string // path.Match pattern: a whole path ("/" first) or a base name
	whole bool   // matched against the whole archive path
	exact bool   // no glob characters: one path, looked up
}

// ParsePattern checks and compiles a pattern.
func ParsePattern(s string) (Pattern, error) {
	if s == "" {
		return Pattern{}, fmt.Errorf("%w: empty", ErrPattern)
	}
	p := Pattern{glob: s, whole: strings.Contains(s, "/")}
	if p.whole {
		p.glob = path.Clean("/" + s)
	}
	if _, err := path.Match(p.glob, ""); err != nil {
		return Pattern{}, fmt.Errorf("%w: %q: %w", ErrPattern, s, err)
	}
	p.exact = p.whole && !strings.ContainsAny(p.glob, `*?[\`)
	return p, nil
}

// Match reports whether the archive path p ("/" first) matches.
func (pt Pattern) Match(p string) bool {
	subject := p
	if !pt.whole {
		subject = path.Base(p)
	}
	ok, _ := path.Match(pt.glob, subject) // checked in ParsePattern
	return ok
}

// Find calls emit for every entry of the tree that matches, in sorted
// walk order (a directory before its children), with its archive path.
// The root itself is never matched.
func Find(r *catalog.TreeReader, pt Pattern, emit func(p string, e catalog.Entry) error) error {
	if pt.exact {
		if pt.glob == "/" {
			return nil
		}
		e, err := r.LookupPath(strings.TrimPrefix(pt.glob, "/"))
		if errors.Is(err, catalog.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", pt.glob, err)
		}
		return emit(pt.glob, e)
	}
	return walk(r, "/", r.Root(), pt, emit)
}

func walk(r *catalog.TreeReader, p string, dir catalog.Entry, pt Pattern, emit func(string, catalog.Entry) error) error {
	kids, err := r.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	for _, k := range kids {
		kp := path.Join(p, k.Name)
		if pt.Match(kp) {
			if err := emit(kp, k); err != nil {
				return err
			}
		}
		if k.Type == catalog.TypeDir {
			if err := walk(r, kp, k, pt, emit); err != nil {
				return err
			}
		}
	}
	return nil
}
