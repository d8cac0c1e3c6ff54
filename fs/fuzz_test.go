package fs

import (
	"strings"
	"testing"
)

func TestUnescapeMountinfo(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/mnt/a", "/mnt/a"},
		{`/mnt/a\040b`, "/mnt/a b"},
		{`/x\011y\134z`, "/x\ty\\z"},
		{`/bad\09`, `/bad\09`},
		{`/end\04`, `/end\04`},
		{`\`, `\`},
	} {
		if got := unescapeMountinfo(tc.in); got != tc.want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzUnescapeMountinfo: the mountinfo decoder never panics, never grows
// its input, and leaves strings without backslashes alone.
func FuzzUnescapeMountinfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		got := unescapeMountinfo(s)
		if len(got) > len(s) {
			t.Fatalf("%q grew to %q", s, got)
		}
		if !strings.Contains(s, `\`) && got != s {
			t.Fatalf("%q changed to %q", s, got)
		}
	})
}
