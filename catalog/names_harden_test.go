package catalog

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestNamesHarden: NUL (which argv cannot carry), "..", empty elements,
// overlong and invalid UTF-8 parts are refused by ParseRef, ParseGroup,
// ParseTime, ArchiveKind and ValidPath with ErrName and a short, valid
// UTF-8 message that quotes the name shortened.
func TestNamesHarden(t *testing.T) {
	long := strings.Repeat("x", 5000)
	const snap = "/host/a/2026-11-20T10:00:00Z"
	cases := []struct {
		name string
		fn   func() error
	}{
		{"ref NUL in type", func() error { _, err := ParseRef("/ho\x00st/a"); return err }},
		{"ref NUL in id", func() error { _, err := ParseRef("/host/a\x00"); return err }},
		{"ref NUL in time", func() error { _, err := ParseRef("/host/a/2026-11-20T10:00:00Z\x00"); return err }},
		{"ref NUL in archive", func() error { _, err := ParseRef(snap + "/x\x00.tree"); return err }},
		{"ref NUL in path", func() error { _, err := ParseRef(snap + "/x.tree/a\x00b"); return err }},
		{"ref empty archive then path", func() error { _, err := ParseRef(snap + "//etc/passwd"); return err }},
		{"ref empty time then archive", func() error { _, err := ParseRef("/host/a//x.tree"); return err }},
		{"ref empty id", func() error { _, err := ParseRef("/host//x"); return err }},
		{"ref relative", func() error { _, err := ParseRef("host/a"); return err }},
		{"ref .. id", func() error { _, err := ParseRef("/host/.."); return err }},
		{"ref .. path", func() error { _, err := ParseRef(snap + "/x.tree/a/../.."); return err }},
		{"ref overlong id", func() error { _, err := ParseRef("/host/" + long); return err }},
		{"ref overlong type", func() error { _, err := ParseRef("/" + long); return err }},
		{"ref overlong archive", func() error { _, err := ParseRef(snap + "/" + long + ".tree"); return err }},
		{"ref overlong path", func() error { _, err := ParseRef(snap + "/x.tree/" + long); return err }},
		{"ref invalid UTF-8 id", func() error { _, err := ParseRef("/host/\xff"); return err }},
		{"ref invalid UTF-8 type", func() error { _, err := ParseRef("/\xff/a"); return err }},
		{"group NUL", func() error { _, err := ParseGroup("host/a\x00"); return err }},
		{"group ..", func() error { _, err := ParseGroup("host/.."); return err }},
		{"group overlong", func() error { _, err := ParseGroup("host/" + long); return err }},
		{"group no id", func() error { _, err := ParseGroup(long); return err }},
		{"group invalid UTF-8", func() error { _, err := ParseGroup("host/a\xfe"); return err }},
		{"time NUL", func() error { _, err := ParseTime("2026-11-20T10:00:00Z\x00"); return err }},
		{"time overlong", func() error { _, err := ParseTime(long); return err }},
		{"time invalid UTF-8", func() error { _, err := ParseTime("2026-11-20T10:00:00\xff"); return err }},
		{"archive NUL", func() error { _, err := ArchiveKind("x\x00.tree"); return err }},
		{"archive ..", func() error { _, err := ArchiveKind("...tree"); return err }},
		{"archive slash", func() error { _, err := ArchiveKind("../x.tree"); return err }},
		{"archive overlong", func() error { _, err := ArchiveKind(long + ".img"); return err }},
		{"archive invalid UTF-8", func() error { _, err := ArchiveKind("\xff.img"); return err }},
		{"path NUL", func() error { return ValidPath("a/\x00") }},
		{"path absolute", func() error { return ValidPath("/etc/passwd") }},
		{"path ..", func() error { return ValidPath("a/../../b") }},
		{"path empty element", func() error { return ValidPath("a//b") }},
		{"path overlong", func() error { return ValidPath(long) }},
	}
	for _, c := range cases {
		err := c.fn()
		if !errors.Is(err, ErrName) {
			t.Errorf("%s: %v; want ErrName", c.name, err)
			continue
		}
		if msg := err.Error(); len(msg) > 300 || !utf8.ValidString(msg) || strings.ContainsAny(msg, "\x00\n") {
			t.Errorf("%s: %d-byte message %.200q; want a short, printable line", c.name, len(msg), msg)
		}
	}
}

// TestRefEmptyElementRegression: "/TYPE/ID/TIME//PATH" once parsed as the
// snapshot /TYPE/ID/TIME, so `forget` of it removed that snapshot.
func TestRefEmptyElementRegression(t *testing.T) {
	for _, s := range []string{"/host/a/2026-11-20T10:00:00Z//etc", "/host//2026-11-20T10:00:00Z", "//host/a"} {
		if r, err := ParseRef(s); err == nil {
			t.Errorf("ParseRef(%q) = %+v, nil; want an error", s, r)
		}
	}
	for _, s := range []string{"", "/", "/host/", "/host/a/", "/host/a/latest/x.tree/dir/"} {
		if _, err := ParseRef(s); err != nil {
			t.Errorf("ParseRef(%q): %v; want it accepted", s, err)
		}
	}
}
