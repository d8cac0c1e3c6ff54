package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

type demoOptions struct {
	repoOptions
}

func cmdDemo(ctx context.Context, e env, args []string) error {
	var o demoOptions
	fs := flags(e, "demo")
	datastoreFlag(fs, &o.datastore)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return runDemo(ctx, e, o)
}

// runDemo shows the main job end to end on an embedded default: it makes a
// sample tree and disk image, backs them up into the (default) datastore as
// host/demo, lists, verifies and restores them, and says what to try next.
func runDemo(ctx context.Context, e env, o demoOptions) error {
	if o.datastore == "" {
		d, err := defaultDatastore()
		if err != nil {
			return err
		}
		o.datastore = d
	}
	work, err := os.MkdirTemp("", "backupfs-demo-")
	if err != nil {
		return err
	}
	src := filepath.Join(work, "source")
	img := filepath.Join(work, "disk.img")
	if err := makeSample(src, img); err != nil {
		return fmt.Errorf("sample data: %w", err)
	}
	step := func(args ...string) { fmt.Fprintf(e.stdout, "\n$ backupfs %s\n", strings.Join(args, " ")) }
	step("backup", "--datastore", o.datastore, "/host/demo", "sample.tree:"+src, "disk.img:"+img)
	if err := runBackup(ctx, e, backupOptions{repoOptions: o.repoOptions}, []string{"/host/demo", "sample.tree:" + src, "disk.img:" + img}); err != nil {
		return err
	}
	for _, p := range []string{"/", "/host/demo", "/host/demo/latest", "/host/demo/latest/sample.tree"} {
		step("ls", "--datastore", o.datastore, p)
		if err := runLs(ctx, e, lsOptions{repoOptions: o.repoOptions}, []string{p}); err != nil {
			return err
		}
	}
	step("verify", "--datastore", o.datastore, "/host/demo")
	if err := runVerify(ctx, e, verifyOptions{datastore: o.datastore}, []string{"/host/demo"}); err != nil {
		return err
	}
	out := filepath.Join(work, "restored")
	step("restore", "--datastore", o.datastore, "/host/demo/latest/sample.tree", out)
	if err := runRestore(ctx, e, restoreOptions(o), []string{"/host/demo/latest/sample.tree", out}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nRestored into %s; compare: diff -r %s %s\n", out, src, out)
	fmt.Fprintf(e.stdout, "Datastore: %s. Try: backupfs ls --datastore %s /host/demo/latest/sample.tree/docs\n", o.datastore, o.datastore)
	return nil
}

// makeSample writes a small tree with every kind of entry a backup keeps,
// and a sparse disk image with some data in it.
func makeSample(src, img string) error {
	files := map[string]string{
		"README.txt":          "This tree was made by backupfs demo.\n",
		"docs/guide.txt":      strings.Repeat("backupfs keeps deduplicated chunks; this line repeats.\n", 2000),
		"docs/notes/todo.txt": "- restore a file\n- mount a snapshot\n",
		"etc/hosts":           "127.0.0.1 localhost\n",
		"data/numbers.csv":    numbers(20000),
	}
	for name, body := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	if err := os.Symlink("docs/guide.txt", filepath.Join(src, "guide-link")); err != nil {
		return err
	}
	if err := os.Link(filepath.Join(src, "etc/hosts"), filepath.Join(src, "etc/hosts.hardlink")); err != nil {
		return err
	}
	old := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	if err := os.Chtimes(filepath.Join(src, "README.txt"), old, old); err != nil {
		return err
	}
	f, err := os.Create(img)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(64 << 20); err != nil {
		return err
	}
	_, err = f.WriteAt([]byte(numbers(100000)), 16<<20)
	return err
}

func numbers(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%d,%d,%s\n", i, i*i, catalog.Sum([]byte{byte(i)}).String()[:8])
	}
	return b.String()
}
