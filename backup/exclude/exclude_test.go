package exclude

import (
	"errors"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pat  string
		fold bool
		path string
		want bool
	}{
		// unanchored: any depth, whole components
		{"cache", false, "/cache", true},
		{"cache", false, "/home/a/cache", true},
		{"cache", false, "/home/a/cachex", false},
		{"cache", false, "/home/cache/x", false}, // below: pruned by the walk, not matched
		{"*.o", false, "/src/a/b.o", true},
		{"*.o", false, "/src/a/b.oo", false},
		{"a/*.o", false, "/x/a/b.o", true},
		{"a/*.o", false, "/x/c/b.o", false},
		{"a/*.o", false, "/a/b.o", true},
		// anchored: from the root only
		{"/srv/cache", false, "/srv/cache", true},
		{"/srv/cache", false, "/x/srv/cache", false},
		{"/srv/*", false, "/srv/data", true},
		{"/srv/*", false, "/srv", false},
		// ** spans any number of components, none included
		{"/srv/**/tmp", false, "/srv/tmp", true},
		{"/srv/**/tmp", false, "/srv/a/b/c/tmp", true},
		{"/srv/**/tmp", false, "/var/a/tmp", false},
		{"/srv/**", false, "/srv/a/b", true},
		{"/srv/**", false, "/srv", true},
		{"**/node_modules", false, "/a/b/node_modules", true},
		{"a/**/b", false, "/x/a/b", true},
		{"a/**/b", false, "/x/a/y/z/b", true},
		{"a/**/b", false, "/x/a/y/z/c", false},
		{"a/**/**/b", false, "/a/q/b", true},
		{"foo**", false, "/x/foobar", true}, // ** inside a name is *
		{"foo**", false, "/x/foo/bar", false},
		// cleaning: trailing slash, double slash
		{"cache/", false, "/a/cache", true},
		{"/srv//cache", false, "/srv/cache", true},
		// classes, ?, escapes
		{"file?.[ch]", false, "/d/file1.c", true},
		{"file?.[ch]", false, "/d/file12.c", false},
		{`\!x`, false, "/d/!x", true},
		{`a\*`, false, "/d/a*", true},
		{`a\*`, false, "/d/ab", false},
		// case
		{"CACHE", false, "/a/cache", false},
		{"CACHE", true, "/a/cache", true},
		{"/Srv/*.LOG", true, "/srv/A.log", true},
		{"*.log", true, "/srv/A.LOG", true},
		{"*.log", false, "/srv/A.LOG", false},
	} {
		p, err := Parse(c.pat, c.fold)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.pat, err)
			continue
		}
		if got := p.Match(c.path); got != c.want {
			t.Errorf("Parse(%q, fold=%v).Match(%q) = %v, want %v", c.pat, c.fold, c.path, got, c.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, pat := range []string{"", "/", ".", "//", "!cache", "../x", "a/../../x", "[", "a/[b", `x\`, strings.Repeat("a", MaxPatternLen+1)} {
		if _, err := Parse(pat, false); !errors.Is(err, ErrPattern) {
			t.Errorf("Parse(%q) = %v, want ErrPattern", pat, err)
		}
	}
}

func TestReadPatterns(t *testing.T) {
	in := "# build output\n\n  *.o  \n/srv/cache\n\t# indented comment\n**/tmp\n"
	s, err := ReadPatterns(strings.NewReader(in), "ex.txt", false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range s {
		got = append(got, p.String())
	}
	if strings.Join(got, "|") != "*.o|/srv/cache|**/tmp" {
		t.Fatalf("patterns %q", got)
	}
	if p, ok := s.Match("/srv/cache"); !ok || p.String() != "/srv/cache" {
		t.Fatalf("Set.Match = %v, %v", p, ok)
	}
	if _, ok := s.Match("/srv/data"); ok {
		t.Fatal("Set.Match /srv/data: matched")
	}
	_, err = ReadPatterns(strings.NewReader("ok\n\n[bad\n"), "ex.txt", false)
	if !errors.Is(err, ErrPattern) || !strings.Contains(err.Error(), "ex.txt:3:") {
		t.Fatalf("bad line: %v, want ErrPattern naming ex.txt:3", err)
	}
}

// FuzzParse: Parse never panics, and what it accepts matches without
// panicking, deterministically, and case-insensitively when folded.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"cache", "/srv/**/tmp", "a/**/**/b", "*.[ch]", `\!x`, "[", "!x", "../a", "//", "A/b?"} {
		f.Add(s, "/srv/a/tmp")
	}
	f.Fuzz(func(t *testing.T, pat, p string) {
		x, err := Parse(pat, false)
		if err != nil {
			if !errors.Is(err, ErrPattern) {
				t.Fatalf("Parse(%q): %v does not wrap ErrPattern", pat, err)
			}
			return
		}
		abs := "/" + strings.TrimLeft(p, "/")
		if got := x.Match(abs); got != x.Match(abs) {
			t.Fatal("Match not deterministic")
		}
		if !x.Match(abs+"/"+"x") && x.anchored && x.Match(abs) && x.parts[len(x.parts)-1] == "**" {
			t.Fatalf("%q ends in ** and matches %q but not below it", pat, abs)
		}
		y, err := Parse(pat, true)
		if err != nil || strings.IndexFunc(abs, func(r rune) bool { return r > 127 }) >= 0 {
			return // lowering can invert a class range (refused); non-ASCII case is not symmetric
		}
		if y.Match(strings.ToUpper(abs)) != y.Match(strings.ToLower(abs)) {
			t.Fatalf("folded %q matches %q differently by case", pat, abs)
		}
	})
}
