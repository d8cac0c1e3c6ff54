package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDemo runs the README's main command in-process: a server on
// 127.0.0.1 over the default datastore, which demo creates (the one
// command allowed to make a datastore implicitly), a backup over the network, listings,
// a restore, a clean verify, and a FUSE mount of the backups (root and
// /dev/fuse, as in CI: the test fails, not skips, without them).
func TestDemo(t *testing.T) {
	var out, errb bytes.Buffer
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	ds, err := defaultDatastore()
	if err != nil {
		t.Fatal(err)
	}
	code := run(context.Background(), env{stdout: &out, stderr: &errb}, []string{"demo", "--no-wait"})
	if code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"created datastore " + ds, "uploaded ", "host/demo", "sample.tree  tree", "disk.img     img   67108864", "guide-link -> docs/guide.txt", "verified 1 snapshots", ": 0 bad", "latest/sample holds 5 entries"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
