package inspect

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

func TestParsePattern(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		match   []string
		miss    []string
	}{
		{"fstab", []string{"/etc/fstab", "/fstab"}, []string{"/etc/fstab.bak", "/etc"}},
		{"*.go", []string{"/a.go", "/src/x/b.go"}, []string{"/a.go.txt", "/go"}},
		{"/etc/fstab", []string{"/etc/fstab"}, []string{"/x/etc/fstab", "/etc"}},
		{"etc/fstab", []string{"/etc/fstab"}, []string{"/x/etc/fstab"}},
		{"/home/*/.bashrc", []string{"/home/ann/.bashrc"}, []string{"/home/.bashrc", "/home/a/b/.bashrc"}},
		{"/etc/../etc/hosts", []string{"/etc/hosts"}, nil},
	} {
		pt, err := ParsePattern(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		for _, p := range tc.match {
			if !pt.Match(p) {
				t.Errorf("%q does not match %s", tc.pattern, p)
			}
		}
		for _, p := range tc.miss {
			if pt.Match(p) {
				t.Errorf("%q matches %s", tc.pattern, p)
			}
		}
	}
	for _, bad := range []string{"", "[", "/a/[x", `\`} {
		if _, err := ParsePattern(bad); !errors.Is(err, ErrPattern) {
			t.Errorf("ParsePattern(%q) = %v, want ErrPattern", bad, err)
		}
	}
}

// TestVersions: a path across four snapshots: new, same, changed, gone,
// back; and a wildcard over the same snapshots.
func TestVersions(t *testing.T) {
	f := newFixture(t)
	f.write("etc/fstab", "v1")
	f.write("etc/hosts", "h")
	f.backup()
	f.backup() // unchanged
	f.write("etc/fstab", "v2 longer")
	f.backup()
	must(t, os.Remove(filepath.Join(f.src, "etc/fstab")))
	f.backup()
	f.write("etc/fstab", "v3")
	f.backup()

	got := versions(t, f, "/etc/fstab")
	want := []string{
		"2026-11-01T00:00:00Z /etc/fstab new 2",
		"2026-11-01T01:00:00Z /etc/fstab same 2",
		"2026-11-01T02:00:00Z /etc/fstab changed 9",
		"2026-11-01T03:00:00Z /etc/fstab gone 9",
		"2026-11-01T04:00:00Z /etc/fstab new 2",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("versions of /etc/fstab:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got = versions(t, f, "hosts")
	if len(got) != 5 || strings.Count(strings.Join(got, "\n"), " same ") != 4 {
		t.Fatalf("versions of hosts: %q: want new then four times same", got)
	}
	if got := versions(t, f, "/nowhere/*"); len(got) != 0 {
		t.Fatalf("versions of a pattern matching nothing: %q", got)
	}
}

func versions(t *testing.T, f *repoFixture, pattern string) []string {
	t.Helper()
	pt, err := ParsePattern(pattern)
	must(t, err)
	var out []string
	err = Versions(f.st, f.g, pt, func(v Version) error {
		out = append(out, strings.Join([]string{v.Time, v.Path, string(v.Status), strconv.FormatUint(v.Size, 10)}, " "))
		return nil
	})
	must(t, err)
	return out
}

// TestFindWalkOrder: a wildcard walk visits every match once, in sorted
// walk order, and an exact path is found by lookup.
func TestFindWalkOrder(t *testing.T) {
	f := newFixture(t)
	f.write("a/x.txt", "1")
	f.write("a/b/x.txt", "2")
	f.write("x.txt", "3")
	f.write("b/x.txt.not", "4")
	f.backup()
	tree := f.tree(0)
	find := func(pattern string) []string {
		var got []string
		pt, err := ParsePattern(pattern)
		must(t, err)
		must(t, Find(tree, pt, func(p string, _ catalog.Entry) error { got = append(got, p); return nil }))
		return got
	}
	if got, want := find("x.txt"), []string{"/a/b/x.txt", "/a/x.txt", "/x.txt"}; !slices.Equal(got, want) {
		t.Fatalf("find x.txt = %q, want %q", got, want)
	}
	if got, want := find("/a/b/x.txt"), []string{"/a/b/x.txt"}; !slices.Equal(got, want) {
		t.Fatalf("find /a/b/x.txt = %q, want %q", got, want)
	}
	if got := find("/a/nothing"); len(got) != 0 {
		t.Fatalf("find of a missing path = %q", got)
	}
}
