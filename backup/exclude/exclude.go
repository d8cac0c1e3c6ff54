// Package exclude matches the paths a tree backup leaves out against
// patterns, with restic's --exclude semantics, and reads exclude files.
//
// A pattern is a slash-separated path pattern. Each component is a
// path.Match pattern (*, ?, [class], \ escapes) and matches one path
// component; a component that is exactly ** matches any number of
// components, none included. A pattern that starts with / is anchored: it
// matches from the root of the file system (the absolute source path, not
// the path inside the archive). Any other pattern matches at any depth:
// "cache" matches /home/a/cache and /cache, "a/*.o" matches /x/a/b.o.
// A pattern matches a path when it matches the whole path from where it
// starts to the path's last component; the walker does not descend into
// an excluded directory, so everything below one is left out with it
// (as restic, which also matches prefixes). A trailing / and repeated
// slashes are cleaned away ("cache/" is "cache").
//
// Case-insensitive patterns (--iexclude) compare both sides lowercased,
// as restic does.
//
// Decisions where restic differs or is silent: negated patterns ("!x")
// are refused with ErrPattern rather than taken as a file named "!x"
// (write "\!x" for that); a pattern with a ".." component, and the empty
// or root pattern, are refused too; $VARIABLES are not expanded.
//
// The package is pure: it reads no file system, only the io.Reader given
// to ReadPatterns.
package exclude

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// ErrPattern is wrapped by every error about a malformed pattern.
var ErrPattern = errors.New("exclude: bad pattern")

// MaxPatternLen bounds a pattern's length in bytes (and so its matching
// cost, which is the product of its components and the path's).
const MaxPatternLen = 4096

// Pattern is one parsed exclude pattern.
type Pattern struct {
	src      string
	anchored bool
	fold     bool
	parts    []string // path.Match patterns; "**" spans components
}

// Parse parses one pattern; fold makes it case-insensitive.
func Parse(s string, fold bool) (Pattern, error) {
	p := Pattern{src: s, fold: fold}
	switch {
	case s == "":
		return p, fmt.Errorf("%w: empty pattern", ErrPattern)
	case len(s) > MaxPatternLen:
		return p, fmt.Errorf("%w: pattern longer than %d bytes", ErrPattern, MaxPatternLen)
	case strings.HasPrefix(s, "!"):
		return p, fmt.Errorf("%w: %q: negated patterns are not supported (write \\! for a name starting with !)", ErrPattern, s)
	}
	p.anchored = strings.HasPrefix(s, "/")
	c := path.Clean(s)
	if fold {
		c = strings.ToLower(c)
	}
	c = strings.TrimPrefix(c, "/")
	if c == "" || c == "." {
		return p, fmt.Errorf("%w: %q matches everything", ErrPattern, s)
	}
	for _, part := range strings.Split(c, "/") {
		if part == ".." {
			return p, fmt.Errorf("%w: %q: a pattern has no .. component", ErrPattern, s)
		}
		if _, err := path.Match(part, ""); err != nil {
			return p, fmt.Errorf("%w: %q: component %q is malformed", ErrPattern, s, part)
		}
		if part == "**" && len(p.parts) > 0 && p.parts[len(p.parts)-1] == "**" {
			continue // a/**/**/b is a/**/b
		}
		p.parts = append(p.parts, part)
	}
	if !p.anchored && p.parts[0] != "**" {
		p.parts = append([]string{"**"}, p.parts...)
	}
	return p, nil
}

// String returns the pattern as given.
func (p Pattern) String() string { return p.src }

// Match reports whether the pattern matches abs, an absolute, clean,
// slash-separated path ("/home/a/cache").
func (p Pattern) Match(abs string) bool {
	if p.parts == nil {
		return false
	}
	if p.fold {
		abs = strings.ToLower(abs)
	}
	abs = strings.TrimPrefix(abs, "/")
	if abs == "" {
		return false
	}
	return matchParts(p.parts, strings.Split(abs, "/"))
}

// matchParts reports whether parts match all of comps: dynamic
// programming over suffixes, one row per pattern component, so a pattern
// with many ** costs len(parts)*len(comps) steps, never backtracking.
// next[j] says whether parts[i+1:] match comps[j:].
func matchParts(parts, comps []string) bool {
	n := len(comps)
	next := make([]bool, n+1)
	cur := make([]bool, n+1)
	next[n] = true
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i] == "**" {
			cur[n] = next[n]
			for j := n - 1; j >= 0; j-- {
				cur[j] = next[j] || cur[j+1]
			}
		} else {
			cur[n] = false
			for j := n - 1; j >= 0; j-- {
				ok, _ := path.Match(parts[i], comps[j]) // checked by Parse
				cur[j] = ok && next[j+1]
			}
		}
		next, cur = cur, next
	}
	return next[0]
}

// Set is a list of patterns; a path is excluded when any matches.
type Set []Pattern

// Match returns the first pattern that matches abs.
func (s Set) Match(abs string) (Pattern, bool) {
	for _, p := range s {
		if p.Match(abs) {
			return p, true
		}
	}
	return Pattern{}, false
}

// ReadPatterns reads an exclude file: one pattern per line, leading and
// trailing white space removed, empty lines and lines starting with #
// ignored (restic's format). An error names the line; name is the file's
// name for it.
func ReadPatterns(r io.Reader, name string, fold bool) (Set, error) {
	var out Set
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxPatternLen+1024)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		p, err := Parse(t, fold)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}
