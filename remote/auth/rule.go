package auth

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/backupfs/backupfs/catalog"
)

// Perm is what a rule allows on a group.
type Perm string

// Permissions. Backup does not imply read; sync is read under its own
// name, for the token another server pulls with (backupfs sync): it lets
// the puller read the groups it syncs and nothing else.
const (
	PermRead   Perm = "read"   // list snapshots, download manifests, indexes and chunks
	PermBackup Perm = "backup" // create new snapshots
	PermSync   Perm = "sync"   // what read allows, granted to a puller
	PermPrune  Perm = "prune"  // forget and prune snapshots (through the server)
	PermVerify Perm = "verify" // verify snapshots (through the server)
	PermAdmin  Perm = "admin"  // gc, and verify of the whole datastore; only as admin:*
)

// MaxPatternLen bounds a rule's pattern (a type, a slash and an id, with
// room for glob syntax).
const MaxPatternLen = 2*catalog.MaxIDLen + 1

// Rule grants Perm on every group whose "type/id" matches Pattern.
type Rule struct {
	Perm    Perm
	Pattern string // "*" (every group), or TYPE/ID where each part may be a path.Match glob
}

// String returns "perm:pattern", the form ParseRule reads.
func (r Rule) String() string { return string(r.Perm) + ":" + r.Pattern }

// ParseRule parses "perm:pattern", e.g. "read:vm/*" or "backup:host/a".
// The perm is read or backup. The pattern is "*" or TYPE/ID: exactly one
// slash, each part non-empty; a part without glob characters must be a
// valid group type or id, a part with them may use only id characters and
// the glob characters * ? [ ] ^ (no backslash escapes: ids never need
// them). The glob must be valid path.Match syntax.
func ParseRule(s string) (Rule, error) {
	p, pat, ok := strings.Cut(s, ":")
	if !ok {
		return Rule{}, fmt.Errorf("%w: rule %s: want PERM:PATTERN, e.g. read:vm/*", ErrFormat, clip(s))
	}
	r := Rule{Perm: Perm(p), Pattern: pat}
	switch r.Perm {
	case PermRead, PermBackup, PermSync, PermPrune, PermVerify:
	case PermAdmin:
		if pat != "*" {
			return Rule{}, fmt.Errorf("%w: rule %s: admin is for the whole datastore: admin:*", ErrFormat, clip(s))
		}
	default:
		return Rule{}, fmt.Errorf("%w: rule %s: permission must be read, backup, sync, prune, verify or admin", ErrFormat, clip(s))
	}
	if err := validPattern(pat); err != nil {
		return Rule{}, fmt.Errorf("%w: rule %s: %v", ErrFormat, clip(s), err)
	}
	return r, nil
}

// validPattern checks a group pattern (see ParseRule).
func validPattern(pat string) error {
	if pat == "*" {
		return nil
	}
	if len(pat) > MaxPatternLen {
		return fmt.Errorf("pattern longer than %d bytes", MaxPatternLen)
	}
	typ, id, ok := strings.Cut(pat, "/")
	if !ok || strings.Contains(id, "/") {
		return fmt.Errorf("pattern must be * or TYPE/ID with one slash")
	}
	if err := validPart(typ, catalog.ValidType); err != nil {
		return fmt.Errorf("type %w", err)
	}
	if err := validPart(id, catalog.ValidID); err != nil {
		return fmt.Errorf("id %w", err)
	}
	if _, err := path.Match(pat, ""); err != nil {
		return fmt.Errorf("pattern: %v", err)
	}
	return nil
}

// validPart checks one side of TYPE/ID: a literal must pass valid, a glob
// may hold only id characters and glob characters.
func validPart(part string, valid func(string) error) error {
	if part == "" {
		return fmt.Errorf("part is empty")
	}
	if !strings.ContainsAny(part, "*?[") {
		if err := valid(part); err != nil {
			return fmt.Errorf("%s is not valid", clip(part))
		}
		return nil
	}
	for i := 0; i < len(part); i++ {
		c := part[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("_.-*?[]^", c) >= 0) {
			return fmt.Errorf("glob %s: character %q not allowed", clip(part), c)
		}
	}
	return nil
}

// Grant is what an authenticated secret may do. It is a snapshot taken at
// authentication: revoking the token later does not change it (see
// Tokens.Valid).
type Grant struct {
	Name  string // the token's name
	Rules []Rule
}

// AllowsAll reports whether g grants p on every group (a rule p:*): what
// gc and a verify of the whole datastore need.
func (g *Grant) AllowsAll(p Perm) bool {
	if g == nil {
		return false
	}
	for _, r := range g.Rules {
		if r.Perm == p && r.Pattern == "*" {
			return true
		}
	}
	return false
}

// Allows reports whether the grant gives p on group ("type/id", as
// catalog.Group.String writes it). A group that is not in that canonical
// form is never allowed. Backup does not imply read. A nil Grant allows
// nothing.
func (g *Grant) Allows(p Perm, group string) bool {
	if g == nil {
		return false
	}
	if gr, err := catalog.ParseGroup(group); err != nil || gr.String() != group {
		return false
	}
	for _, r := range g.Rules {
		if r.Perm != p && (p != PermRead || r.Perm != PermSync) {
			continue
		}
		if r.Pattern == "*" {
			return true
		}
		if ok, err := path.Match(r.Pattern, group); err == nil && ok {
			return true
		}
	}
	return false
}

// clipLen bounds how much of an input an error message quotes.
const clipLen = 64

// clip quotes s for an error message, cut to clipLen bytes, so errors stay
// short whatever the input.
func clip(s string) string {
	if len(s) <= clipLen {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:clipLen]) + "..."
}
