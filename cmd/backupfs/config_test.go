package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestParseConfig(t *testing.T) {
	in := `# server settings
[serve]
listen = 0.0.0.0:7464   # all addresses
max_conns=512
datastore = "/srv/backup store/\"x\" \\ #" # quoted
log-format = json
verbose = true
empty =
`
	got, err := parseConfig(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []configEntry{{"listen", "0.0.0.0:7464", 3}, {"max-conns", "512", 4},
		{"datastore", `/srv/backup store/"x" \ #`, 5}, {"log-format", "json", 6}, {"verbose", "true", 7}, {"empty", "", 8}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	jobs, err := parseConfig(strings.NewReader("job = gc every 24h\njob = verify every 168h\n"))
	if err != nil || len(jobs) != 2 || jobs[1].value != "verify every 168h" {
		t.Errorf("two job lines: %+v, %v; want both (job repeats)", jobs, err)
	}
	for _, bad := range []string{"listen", "[client]\n", "a b = 1", "k = \"open", `k = "a\n"`, `k = "a" b`, "k = 1\nk = 2", "= 1"} {
		if _, err := parseConfig(strings.NewReader(bad)); !errors.Is(err, errConfig) {
			t.Errorf("%q: %v, want errConfig", bad, err)
		}
	}
}

// TestApplyConfigFile: the file sets flags the command line did not; a
// flag given wins; an unknown key or a bad value fails naming FILE:LINE.
func TestApplyConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, fmt.Sprint(len(s)))
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	newFS := func() (*pflag.FlagSet, *string, *int) {
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		l := fs.String("listen", "default", "")
		m := fs.Int("max-conns", 0, "")
		return fs, l, m
	}
	fs, listen, conns := newFS()
	fs.Parse([]string{"--listen", "flag"})
	if err := applyConfigFile(fs, write("listen = file\nmax_conns = 9\n")); err != nil || *listen != "flag" || *conns != 9 {
		t.Errorf("listen %q max-conns %d (%v): want the flag's listen and the file's max-conns", *listen, *conns, err)
	}
	for content, want := range map[string]string{
		"listen = a\nbogus = 1\n": ":2: config: unknown key bogus",
		"max_conns = lots\n":      `:1: max-conns = "lots": invalid argument`,
	} {
		fs, _, _ := newFS()
		if err := applyConfigFile(fs, write(content)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", content, err, want)
		}
	}
}

// FuzzParseConfig: parsing never panics, and what parses, written back
// with quoted values, parses to the same entries.
func FuzzParseConfig(f *testing.F) {
	f.Add("listen = 127.0.0.1:7464 # c\n[serve]\nmax_conns=3\n")
	f.Add(`datastore = "/a b/\"q\" \\" # c`)
	f.Add("k =\n\n# x\nj = a#b")
	f.Fuzz(func(t *testing.T, s string) {
		es, err := parseConfig(strings.NewReader(s))
		if err != nil {
			return
		}
		var b strings.Builder
		for _, e := range es {
			fmt.Fprintf(&b, "%s = %s\n", e.key, quoteConfig(e.value))
		}
		back, err := parseConfig(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("written back %q: %v", b.String(), err)
		}
		if len(back) != len(es) {
			t.Fatalf("written back: %d entries, want %d", len(back), len(es))
		}
		for i := range es {
			if back[i].key != es[i].key || back[i].value != es[i].value {
				t.Fatalf("entry %d: %q = %q, written back %q = %q", i, es[i].key, es[i].value, back[i].key, back[i].value)
			}
		}
	})
}

// TestConfigExample: contrib/serve.conf.example sets real serve flags.
func TestConfigExample(t *testing.T) {
	var got *pflag.FlagSet
	e := env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, flagSet: func(fs *pflag.FlagSet) { got = fs }}
	cmdServe(context.Background(), e, []string{"--help"})
	if err := applyConfigFile(got, filepath.Join("..", "..", "contrib", "serve.conf.example")); err != nil {
		t.Fatal(err)
	}
	if v := got.Lookup("listen").Value.String(); v != "[::]:7464" {
		t.Errorf("listen = %q", v)
	}
}

// TestApplyConfigJobs: every job line of the file is taken, unless the
// command line gave --job (then only those).
func TestApplyConfigJobs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serve.conf")
	if err := os.WriteFile(path, []byte("job = gc every 24h\njob = verify every 168h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"gc every 24h", "verify every 168h"}},
		{[]string{"--job", "gc every 1h"}, []string{"gc every 1h"}},
	} {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		jobs := fs.StringArray("job", nil, "")
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if err := applyConfigFile(fs, path); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(*jobs, tc.want) {
			t.Errorf("args %q: jobs %q, want %q", tc.args, *jobs, tc.want)
		}
	}
}
