package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// maxErrLine bounds the one line a refused name may produce: a clear
// message quotes the name shortened, never 5000 bytes of it.
const maxErrLine = 512

// badRefs are repository paths that must be refused (or, for a path inside
// an archive that is merely absent, fail as not found). T is a real
// snapshot time of the fixture; each entry damages one part.
func badRefs(t1 string) map[string]string {
	long := strings.Repeat("x", 5000)
	snap := "/host/a/" + t1
	return map[string]string{
		"type ..":            "/../a",
		"type invalid UTF-8": "/h\xffst/a",
		"type overlong":      "/" + long + "/a",
		"relative ref":       "host/a/" + t1,
		"id ..":              "/host/..",
		"id dot-first":       "/host/.a",
		"id invalid UTF-8":   "/host/a\xff",
		"id overlong":        "/host/" + long,
		"time ..":            "/host/a/..",
		"time invalid UTF-8": snap + "\xff",
		"time overlong":      "/host/a/" + long,
		"time not canonical": "/host/a/2026-11-20T11:00:00+01:00",
		"archive ..":         snap + "/..",
		"archive invalid":    snap + "/fmt\xff.tree",
		"archive overlong":   snap + "/" + long + ".tree",
		"archive abs path":   snap + "//etc/passwd",
		"path ..":            snap + "/fmt.tree/..",
		"path escapes":       snap + "/fmt.tree/print.go/../../../etc",
		"path absolute":      snap + "/fmt.tree//etc/passwd",
		"path overlong":      snap + "/fmt.tree/" + long,
		"path invalid UTF-8": snap + "/fmt.tree/\xff\xfe", // a legal file name (bytes), absent: not found
	}
}

// checkRefused: a non-zero exit and exactly one short line, valid UTF-8
// unless the input was a file path (file names are bytes; like ls and cp,
// the error echoes the name as given).
func checkRefused(t *testing.T, what string, r Result) {
	t.Helper()
	e := strings.TrimSpace(r.Stderr)
	bytesOK := strings.Contains(what, "path invalid UTF-8")
	if r.Code == 0 || e == "" || strings.Contains(e, "\n") || len(e) > maxErrLine || !bytesOK && !utf8.ValidString(e) {
		if len(e) > 300 {
			e = e[:300] + "..."
		}
		t.Errorf("%s: exit %d, %d-byte stderr %q; want one clear line (<%d bytes, UTF-8) and a non-zero exit",
			what, r.Code, len(r.Stderr), e, maxErrLine)
	}
}

// nameCommands lists the commands each bad ref goes through: loc turns a
// ref into the local or the remote form.
func nameCommands(t *testing.T, loc func(string) string, src string) map[string]func(ref string) []string {
	return map[string]func(ref string) []string{
		"ls":      func(ref string) []string { return []string{"ls", loc(ref)} },
		"restore": func(ref string) []string { return []string{"restore", loc(ref), filepath.Join(t.TempDir(), "r")} },
		"forget":  func(ref string) []string { return []string{"forget", loc(ref)} },
		"backup":  func(ref string) []string { return []string{"backup", loc(ref), "x.tree:" + src} },
	}
}

// badBackupArgs are backup argument lists, after the repository path, that
// must be refused: bad archive names and bad --time values.
func badBackupArgs(src string) map[string][]string {
	long := strings.Repeat("x", 5000)
	return map[string][]string{
		"archive ..":         {"../x.tree:" + src},
		"archive slash":      {"a/b.tree:" + src},
		"archive invalid":    {"x\xff.tree:" + src},
		"archive overlong":   {long + ".tree:" + src},
		"archive no kind":    {"x:" + src},
		"time invalid UTF-8": {"--time", "2026-11-20T10:00:00Z\xff", "x.tree:" + src},
		"time overlong":      {"--time", long, "x.tree:" + src},
		"time not canonical": {"--time", "2026-11-20 10:00:00", "x.tree:" + src},
	}
}

// TestNamesRefused: "..", absolute paths where relative ones are expected,
// overlong (5000-byte) and invalid UTF-8 parts in the group type, id,
// time, archive and path of ls, restore, forget and backup, in the local
// (--datastore) and remote (HOST:PORT:/...) forms, each give one clear line
// and a non-zero exit; the datastore is unchanged afterwards. (NUL cannot
// be passed in argv: catalog's TestNamesHarden covers it.)
func TestNamesRefused(t *testing.T) {
	const t1 = "2026-11-20T10:00:00Z"
	src := filepath.Join(GoRoot(t), "src", "fmt")
	ds := NewDatastore(t)
	MustRun(t, "backup", "--datastore", ds, "--time", t1, "/host/a", "fmt.tree:"+src)
	srv := StartServer(t, ds)
	tok := srv.Token("admin", "read:*", "backup:*")
	before := Sh(t, "find", ds, "-not", "-path", "*/.chunks/*", "-not", "-path", ds+"/.auth*")

	forms := map[string]struct {
		loc func(string) string
		run func(args ...string) Result
	}{
		"local": {func(r string) string { return r }, func(args ...string) Result {
			return Run(t, append([]string{args[0], "--datastore", ds}, args[1:]...)...)
		}},
		"remote": {func(r string) string { return srv.Addr + ":" + r }, func(args ...string) Result {
			return srv.Client(tok, args...)
		}},
	}
	for fname, form := range forms {
		for cname, cmd := range nameCommands(t, form.loc, src) {
			for what, ref := range badRefs(t1) {
				checkRefused(t, fname+" "+cname+" with "+what, form.run(cmd(ref)...))
			}
		}
		for what, args := range badBackupArgs(src) {
			full := append([]string{"backup", form.loc("/host/a")}, args...)
			checkRefused(t, fname+" backup with "+what, form.run(full...))
		}
	}
	after := Sh(t, "find", ds, "-not", "-path", "*/.chunks/*", "-not", "-path", ds+"/.auth*")
	if before != after {
		t.Errorf("refused commands changed the datastore:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	out := filepath.Join(t.TempDir(), "r")
	MustRun(t, "restore", "--datastore", ds, "/host/a/"+t1+"/fmt.tree", out)
	Sh(t, "diff", "-r", src, out)
	if _, err := os.Stat(filepath.Join(ds, "..", "etc")); err == nil {
		t.Error("a refused name created a directory outside the datastore")
	}
}
