package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// selectTree is a tree built for one exclude option: files (path ->
// contents; a path ending in / is a directory), what the option must
// leave out (paths under the source; a directory's contents go with it)
// and the flags, in which SRC stands for the source's absolute path
// (so SRC/x is anchored) and FILE for an exclude file.
type selectTree struct {
	name     string
	files    map[string]string
	excluded []string
	flags    []string
}

const cacheSig = "Signature: 8a477f597d28d172789f06886806bc55"

var selectTrees = []selectTree{
	{name: "unanchored", flags: []string{"--exclude", "*.o", "--exclude", "tmp"},
		files: map[string]string{"a.o": "1", "d/e/b.o": "2", "d/b.oo": "3", "d/e/c.c": "4",
			"tmp/x": "5", "d/e/tmp/y": "6", "d/tmpx/z": "7"},
		excluded: []string{"a.o", "d/e/b.o", "tmp", "d/e/tmp"}},
	{name: "anchored", flags: []string{"--exclude", "SRC/logs", "--exclude", "SRC/d/*.log", "--exclude", "/y.log"},
		files:    map[string]string{"logs/a": "1", "d/logs/b": "2", "d/x.log": "3", "d/e/y.log": "4"},
		excluded: []string{"logs", "d/x.log"}},
	{name: "doublestar", flags: []string{"--exclude", "build/**/gen", "--exclude", "SRC/deep/**/*.bin"},
		files: map[string]string{"build/gen/a": "1", "build/x/y/gen/b": "2", "build/x/y/keep": "3",
			"other/gen/c": "4", "deep/a.bin": "5", "deep/1/2/3/b.bin": "6", "deep/1/c.txt": "7", "x/deep/d.bin": "8"},
		excluded: []string{"build/gen", "build/x/y/gen", "deep/a.bin", "deep/1/2/3/b.bin"}},
	{name: "iexclude", flags: []string{"--iexclude", "*.TMP", "--exclude", "*.BAK"},
		files:    map[string]string{"a.tmp": "1", "B.Tmp": "2", "c.tmpx": "3", "d.bak": "4", "e.BAK": "5"},
		excluded: []string{"a.tmp", "B.Tmp", "e.BAK"}},
	{name: "exclude-file", flags: []string{"--exclude-file", "FILE"},
		files:    map[string]string{"secret.key": "1", "d/secret2": "2", "d/public": "3", "#notes": "4"},
		excluded: []string{"secret.key", "d/secret2"}},
	{name: "exclude-caches", flags: []string{"--exclude-caches"},
		files: map[string]string{"c1/CACHEDIR.TAG": cacheSig + "\n# a cache\n", "c1/blob": "1",
			"c2/CACHEDIR.TAG": "Signature: 8a477f597d28d172789f06886806bc56\n", "c2/blob": "2",
			"c3/CACHEDIR.TAG": "Signature", "c4/cachedir.tag": cacheSig, "c5/CACHEDIR.TAG/": ""},
		excluded: []string{"c1/blob"}},
	{name: "exclude-if-present", flags: []string{"--exclude-if-present", ".nobackup", "--exclude-if-present", "SKIP"},
		files: map[string]string{"p/.nobackup": "", "p/data": "1", "q/SKIP/": "", "q/data": "2",
			"r/.nobackup.not": "", "r/data": "3", ".nobackup": "", "q/SKIP/x": "4"},
		excluded: []string{"p/data", "q/data"}},
	{name: "exclude-larger-than", flags: []string{"--exclude-larger-than", "1K"},
		files: map[string]string{"small": strings.Repeat("s", 1024), "big": strings.Repeat("b", 1025),
			"d/huge": strings.Repeat("h", 5000), "d/tiny": "t"},
		excluded: []string{"big", "d/huge"}},
}

// build makes the tree under dir/src and the same tree without the
// excluded paths under dir/want; it returns both and the flags with SRC
// and FILE filled in.
func (c selectTree) build(t *testing.T, dir string) (src, want string, flags []string) {
	t.Helper()
	src, want = filepath.Join(dir, "src"), filepath.Join(dir, "want")
	for p, data := range c.files {
		full := filepath.Join(src, p)
		if strings.HasSuffix(p, "/") {
			must(t, os.MkdirAll(full, 0o755))
			continue
		}
		must(t, os.MkdirAll(filepath.Dir(full), 0o755))
		must(t, os.WriteFile(full, []byte(data), 0o644))
	}
	Sh(t, "cp", "-a", src, want)
	for _, p := range c.excluded {
		must(t, os.RemoveAll(filepath.Join(want, p)))
		parent := filepath.Dir(p) // keep its mtime: the source's did not change
		Sh(t, "touch", "-h", "-r", filepath.Join(src, parent), filepath.Join(want, parent))
	}
	exFile := filepath.Join(dir, "excludes")
	must(t, os.WriteFile(exFile, []byte("# secrets\n\n  secret*  \n"), 0o644))
	for _, f := range c.flags {
		f = strings.ReplaceAll(f, "SRC", src) // absolute: the pattern is anchored
		if f == "FILE" {
			f = exFile
		}
		flags = append(flags, f)
	}
	return src, want, flags
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var excludedRE = regexp.MustCompile(`excluded (\d+) entries \(([^)]*) in files`)

// TestBackupExcludes backs up, for each exclude option, a tree built for
// it; restores it; and checks with diff -r and find that exactly the
// paths the option names are missing, that the summary counts them, and
// that --dry-run lists exactly what was restored.
func TestBackupExcludes(t *testing.T) {
	ds := NewDatastore(t)
	for i, c := range selectTrees {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src, want, flags := c.build(t, dir)
			group := "/host/sel" + strconv.Itoa(i)
			args := append(append([]string{"backup", "--datastore", ds}, flags...), group, "root.tree:"+src)
			out := MustRun(t, args...)
			checkExcludedCount(t, out, c)
			got := filepath.Join(dir, "restored")
			MustRun(t, "restore", "--datastore", ds, group+"/latest/root.tree", got)
			Sh(t, "diff", "-r", want, got)
			if d := DiffLines(Metadata(t, want), Metadata(t, got), 10); d != "" {
				t.Fatalf("restored tree differs from the source without the excluded paths:\n%s", d)
			}
			dry := MustRun(t, append(append([]string{"backup", "--datastore", ds, "--dry-run"}, flags...), group, "root.tree:"+src)...)
			checkDryList(t, dry, got)
			checkExcludedCount(t, dry, c)
		})
	}
}

// checkExcludedCount checks the summary's count of excluded entries and
// of the bytes of the excluded regular files.
func checkExcludedCount(t *testing.T, out string, c selectTree) {
	t.Helper()
	var bytes int
	for _, p := range c.excluded {
		if data, ok := c.files[p]; ok {
			bytes += len(data)
		}
	}
	human := fmt.Sprintf("%d B", bytes) // the CLI's units, for sizes below 1 MiB
	if bytes >= 1024 {
		human = fmt.Sprintf("%.1f KiB", float64(bytes)/1024)
	}
	m := excludedRE.FindStringSubmatch(out)
	if m == nil || m[1] != strconv.Itoa(len(c.excluded)) || m[2] != human {
		t.Fatalf("summary %q: want %d entries, %d bytes excluded", out, len(c.excluded), bytes)
	}
}

// checkDryList checks that a dry run listed exactly the paths of tree.
func checkDryList(t *testing.T, out, tree string) {
	t.Helper()
	var listed []string
	for _, l := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(l, "root.tree/"); ok {
			listed = append(listed, p)
		}
	}
	var have []string
	if s := strings.TrimSpace(Sh(t, "find", tree, "-mindepth", "1", "-printf", "%P\n")); s != "" {
		have = strings.Split(s, "\n")
	}
	sort.Strings(listed)
	sort.Strings(have)
	if d := DiffLines(have, listed, 10); d != "" || len(have) != len(listed) {
		t.Fatalf("dry run listed other paths than the backup took:\n%s", d)
	}
	if !strings.Contains(out, "nothing uploaded, no snapshot made") {
		t.Fatalf("dry run output: %q", out)
	}
}
