package integration

// The plan of TestReadmeExamples: extracting README's examples and
// sorting them into synopses (checked against --help), mapped ones
// (checked against the named tests' sources) and ones to run.

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// readmeMapped: examples the test cannot run here, and the tests (or the
// helpers they call, "Type.Method" for a method) that run the command.
var readmeMapped = []struct {
	prefix string
	funcs  []string
	why    string
}{
	{"sudo .ci/run", nil, "the suite's own runner: run here, it would run this test again; checked by readmeCIRun"},
	{"export AWS_ENDPOINT_URL=", []string{"TestS3Serve", "S3.Setenv", "Server.Env"}, "a real S3 store with the user's credentials; the tests use a versitygw"},
	{"backupfs init --datastore s3://", []string{"TestS3Serve", "NewS3Datastore"}, "as above"},
	{"backupfs serve --datastore s3://", []string{"TestS3Serve", "StartServerWith", "Server.start"}, "as above"},
	{"backupfs backup --exclude", []string{"TestBackupExcludes", "selectTrees", "TestBackupOneFileSystem", "TestBackupSeveralSources"},
		"reads the machine's own /etc, /home and /srv (unbounded on a workstation) and needs a host/web1 token the README does not make"},
	{"backupfs serve --config /etc/backupfs/serve.conf", []string{"TestServeConfigFile", "TestServeMetrics", "TestLogFormatJSON", "Server.start"},
		"a config file under /etc and a fixed metrics port"},
}

// readmeCIRun checks what README says of .ci/run: an executable shell
// script, syntactically valid, that runs scripts/test.
func readmeCIRun(t *testing.T) {
	fi, err := os.Stat("../.ci/run")
	if err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf(".ci/run: %v, mode %v: want an executable script", err, fi)
	}
	Sh(t, "bash", "-n", "../.ci/run")
	if b, _ := os.ReadFile("../.ci/run"); !bytes.Contains(b, []byte("scripts/test")) {
		t.Errorf(".ci/run does not run scripts/test")
	}
}

// example is one command line of a README code block.
type example struct {
	line  int // where it starts in the README
	block int // which code block
	text  string
}

var fenceRE = regexp.MustCompile("^\\s*```")

// readmeExamples extracts the examples of the markdown file at path.
func readmeExamples(t *testing.T, path string) []example {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	block, inFence, inIndent, prevBlank := 0, false, false, true
	var cur *example
	for i, l := range strings.Split(string(b), "\n") {
		code := ""
		switch {
		case fenceRE.MatchString(l):
			inFence = !inFence
			block++
			prevBlank = false
			continue
		case inFence:
			code = l
		case (inIndent || prevBlank) && (strings.HasPrefix(l, "    ") || strings.HasPrefix(l, "\t")):
			if !inIndent {
				block++
			}
			inIndent, code = true, l
		case strings.TrimSpace(l) != "":
			inIndent = false
		}
		prevBlank = strings.TrimSpace(l) == ""
		if code == "" {
			continue
		}
		text := strings.TrimSpace(stripComment(code))
		if cur == nil && text != "" {
			cur = &example{line: i + 1, block: block}
		}
		if cur == nil {
			continue
		}
		cur.text = strings.TrimSpace(cur.text + " " + strings.TrimSuffix(text, `\`))
		if !strings.HasSuffix(text, `\`) {
			out = append(out, *cur)
			cur = nil
		}
	}
	return out
}

// stripComment cuts a shell comment: # at the start or after a blank,
// outside quotes.
func stripComment(l string) string {
	var quote rune
	for i, c := range l {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			return l[:i]
		}
	}
	return l
}

var placeholderRE = regexp.MustCompile(`\b[A-Z]{2,}\b|\[`)

// readmePlan sorts the examples of path: synopses and mapped ones are
// checked at once; it returns the ones to run (with their step) and a
// problem line for every example that fails its check or has no rule.
func readmePlan(t *testing.T, path string) (runs []example, steps []readmeRun, problems []string) {
	srcs := funcSources(t, ".", "../cmd/backupfs", "../internal/s3test")
	help := newBinHelp(t)
	used := map[string]bool{}
next:
	for _, ex := range readmeExamples(t, path) {
		at := filepath.Base(path) + ":" + strconv.Itoa(ex.line) + ": " + ex.text + ": "
		if placeholderRE.MatchString(readmeSubst.Replace(ex.text)) {
			for _, p := range help.checkCommand(ex.text) {
				problems = append(problems, at+p)
			}
			continue
		}
		for _, m := range readmeMapped {
			if strings.HasPrefix(ex.text, m.prefix) {
				used[m.prefix] = true
				for _, p := range checkMapped(srcs, ex.text, m.funcs) {
					problems = append(problems, at+p)
				}
				continue next
			}
		}
		for _, s := range readmeRuns {
			if strings.HasPrefix(ex.text, s.prefix) {
				used[s.prefix] = true
				runs, steps = append(runs, ex), append(steps, s)
				continue next
			}
		}
		problems = append(problems, at+"neither run nor mapped to a test (add it to readmeRuns or readmeMapped)")
	}
	problems = append(problems, help.checkInline(path)...)
	if path == *readmeFile {
		for _, s := range readmeRuns {
			if !used[s.prefix] {
				problems = append(problems, "readmeRuns: no example starts with "+s.prefix)
			}
		}
		for _, m := range readmeMapped {
			if !used[m.prefix] {
				problems = append(problems, "readmeMapped: no example starts with "+m.prefix)
			}
		}
	}
	return runs, steps, problems
}

// words is what a test running the example must mention: the backupfs
// subcommand and its --flags, a tool's name and flags, or the variables of
// an export.
func words(text string) []string {
	f := strings.Fields(text)
	if f[0] == "export" {
		var out []string
		for _, kv := range f[1:] {
			out = append(out, strings.SplitN(kv, "=", 2)[0])
		}
		return out
	}
	if f[0] == "backupfs" || f[0] == "sudo" {
		f = f[1:]
	}
	if len(f) == 0 {
		return []string{""}
	}
	out := []string{f[0]}
	for _, w := range f[1:] {
		if w = strings.TrimLeft(w, "["); strings.HasPrefix(w, "-") { // [--flag] in a synopsis
			out = append(out, strings.TrimRight(strings.SplitN(w, "=", 2)[0], "]"))
		}
	}
	return out
}

// binHelp is what the binary says of its commands: `backupfs help` and
// each command's --help.
type binHelp map[string]string

func newBinHelp(t *testing.T) binHelp {
	h := binHelp{}
	for _, m := range regexp.MustCompile(`(?m)^  backupfs ([a-z]+) `).FindAllStringSubmatch(Run(t, "help").Stdout, -1) {
		r := Run(t, m[1], "--help")
		h[m[1]] = r.Stdout + r.Stderr
	}
	return h
}

// hasFlag: cmd's --help has a line of its own for flag (not only the
// usage line); cmd "" is any command.
func (h binHelp) hasFlag(cmd, flag string) bool {
	re := regexp.MustCompile(`(?m)^\s+(-\w, )?` + regexp.QuoteMeta(flag) + `[\[ ]`)
	for c, help := range h {
		if (cmd == "" || c == cmd) && re.MatchString(help) {
			return true
		}
	}
	return false
}

// checkCommand: the command named first in f (after "backupfs") exists
// and knows every --flag of f.
func (h binHelp) checkCommand(text string) []string {
	f := words(text)
	if _, ok := h[f[0]]; !ok {
		return []string{"backupfs help does not list " + f[0]}
	}
	var out []string
	for _, w := range f[1:] {
		if !h.hasFlag(f[0], w) {
			out = append(out, "backupfs "+f[0]+" --help does not list "+w)
		}
	}
	return out
}

var inlineRE = regexp.MustCompile("`([^`]+)`")

// checkInline: inline code in the prose is not run, but the commands and
// flags it names must exist: `backupfs CMD ...` or `CMD --flag ...` (CMD
// a backupfs command) as a synopsis, a lone `--flag` in some command.
func (h binHelp) checkInline(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for i, l := range strings.Split(string(b), "\n") {
		for _, m := range inlineRE.FindAllStringSubmatch(l, -1) {
			at := filepath.Base(path) + ":" + strconv.Itoa(i+1) + ": `" + m[1] + "`: "
			_, isCmd := h[strings.Fields(m[1])[0]]
			var ps []string
			switch {
			case strings.HasPrefix(m[1], "backupfs ") || isCmd && strings.Contains(m[1], " --"):
				ps = h.checkCommand(m[1])
			case strings.HasPrefix(m[1], "--") && !h.hasFlag("", words("x " + m[1])[1]):
				ps = []string{"no command has " + words("x " + m[1])[1]}
			}
			for _, p := range ps {
				out = append(out, at+p)
			}
		}
	}
	return out
}

// checkMapped: the named functions exist and their sources together
// mention every word of the example.
func checkMapped(srcs map[string]string, text string, funcs []string) []string {
	if funcs == nil {
		return nil
	}
	var all strings.Builder
	var out []string
	for _, f := range funcs {
		src, ok := srcs[f]
		if !ok {
			out = append(out, "mapped to "+f+", which does not exist")
		}
		all.WriteString(src)
	}
	for _, w := range words(text) {
		if !strings.Contains(all.String(), w) {
			out = append(out, "none of "+strings.Join(funcs, ", ")+" mentions "+w)
		}
	}
	return out
}

// funcSources parses the Go files of dirs: the name of each function and
// package-level var (see declNames) to its source.
func funcSources(t *testing.T, dirs ...string) map[string]string {
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(fset, file, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				start, end := fset.Position(d.Pos()).Offset, fset.Position(d.End()).Offset
				for _, name := range declNames(d) {
					out[name] += string(src[start:end])
				}
			}
		}
	}
	return out
}

// declNames: a function's name (Type.Method for a method), or the names
// a var declaration declares (tables of test cases).
func declNames(d ast.Decl) []string {
	var out []string
	switch d := d.(type) {
	case *ast.FuncDecl:
		name := d.Name.Name
		if d.Recv != nil && len(d.Recv.List) == 1 {
			typ := d.Recv.List[0].Type
			if s, ok := typ.(*ast.StarExpr); ok {
				typ = s.X
			}
			if id, ok := typ.(*ast.Ident); ok {
				name = id.Name + "." + name
			}
		}
		out = append(out, name)
	case *ast.GenDecl:
		for _, sp := range d.Specs {
			if vs, ok := sp.(*ast.ValueSpec); ok && d.Tok == token.VAR {
				for _, id := range vs.Names {
					out = append(out, id.Name)
				}
			}
		}
	}
	return out
}

// TestReadmeSelfTest: on a small README, the extraction finds the blocks'
// examples (joined, comments cut, inline code left out), and the plan
// names by line exactly the example without a rule, the synopsis with a
// flag the binary lacks, and the inline command and flag that do not
// exist; a mapping to a missing test is refused.
func TestReadmeSelfTest(t *testing.T) {
	const md = "testdata/readme_selftest.md"
	var got []string
	for _, ex := range readmeExamples(t, md) {
		got = append(got, strconv.Itoa(ex.line)+" "+ex.text)
	}
	want := []string{
		"6 backupfs gc      --datastore DIR [--grace 1h] [--dry-run]",
		"7 backupfs gc      --datastore DIR --no-such-flag",
		"13 backupfs stats --datastore /srv/ds",
		"15 backupfs serve --config /etc/backupfs/serve.conf --metrics-listen 127.0.0.1:9464 --log-format json",
		"18 backupfs frobnicate --now",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("examples of %s:\n%s\nwant:\n%s", md, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	runs, _, problems := readmePlan(t, md)
	wantProblems := []string{
		"readme_selftest.md:7: backupfs gc      --datastore DIR --no-such-flag: backupfs gc --help does not list --no-such-flag",
		"readme_selftest.md:18: backupfs frobnicate --now: neither run nor mapped to a test (add it to readmeRuns or readmeMapped)",
		"readme_selftest.md:3: `backupfs frobnicate --inline`: backupfs help does not list frobnicate",
		"readme_selftest.md:4: `--cache-sise`: no command has --cache-sise",
	}
	if strings.Join(problems, "\n") != strings.Join(wantProblems, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(wantProblems, "\n"))
	}
	if len(runs) != 1 || runs[0].line != 13 {
		t.Errorf("runs: %v, want the stats example of line 13", runs)
	}
	p := checkMapped(funcSources(t, "."), "backupfs serve --config F", []string{"TestNoSuchTest"})
	if len(p) != 3 || p[0] != "mapped to TestNoSuchTest, which does not exist" {
		t.Errorf("a mapping to a missing test: %q", p)
	}
}
