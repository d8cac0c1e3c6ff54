package main

import (
	"context"
	"fmt"
	"github.com/backupfs/backupfs/admin"
	"github.com/backupfs/backupfs/remote/wire"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

type demoOptions struct {
	datastore string
	noWait    bool
}

func cmdDemo(ctx context.Context, e env, args []string) error {
	var o demoOptions
	fs := flags(e, "demo")
	datastoreFlag(fs, &o.datastore)
	fs.BoolVar(&o.noWait, "no-wait", false, "unmount and exit at once instead of waiting for Ctrl-C")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("demo takes no arguments")
	}
	return runDemo(ctx, e, o)
}

// runDemo shows the main job end to end on an embedded default: it opens
// the default datastore, serves it on 127.0.0.1 (TLS, a demo token), makes
// a sample tree and disk image, backs them up over the network as
// host/demo, lists and restores them through the server, verifies the
// datastore, then mounts the backups with FUSE and waits (Ctrl-C
// unmounts), saying where to look.
func runDemo(ctx context.Context, e env, o demoOptions) error {
	st, err := demoServerState(e, o.datastore)
	if err != nil {
		return err
	}
	o.datastore = st.dir
	work, err := os.MkdirTemp("", "backupfs-demo-")
	if err != nil {
		return err
	}
	src := filepath.Join(work, "source")
	img := filepath.Join(work, "disk.img")
	if err := makeSample(src, img); err != nil {
		return fmt.Errorf("sample data: %w", err)
	}
	srv, err := startDemoServer(ctx, e, st)
	if err != nil {
		return err
	}
	defer srv.stop()
	ro := repoOptions{tokenFile: srv.tokenFile, fingerprint: srv.fingerprint, timeout: 30 * time.Second, stderr: e.stderr}
	repo := func(p string) string { return srv.addr + ":" + p }
	step := func(args ...string) { fmt.Fprintf(e.stdout, "\n$ backupfs %s\n", strings.Join(args, " ")) }

	step("backup", repo("/host/demo"), "sample.tree:"+src, "disk.img:"+img)
	if err := runBackup(ctx, e, backupOptions{repoOptions: ro}, []string{repo("/host/demo"), "sample.tree:" + src, "disk.img:" + img}); err != nil {
		return err
	}
	for _, p := range []string{"/", "/host/demo", "/host/demo/latest", "/host/demo/latest/sample.tree"} {
		step("ls", repo(p))
		if err := runLs(ctx, e, lsOptions{repoOptions: ro}, []string{repo(p)}); err != nil {
			return err
		}
	}
	out := filepath.Join(work, "restored")
	step("restore", repo("/host/demo/latest/sample.tree"), out)
	if err := runRestore(ctx, e, restoreOptions{repoOptions: ro}, []string{repo("/host/demo/latest/sample.tree"), out}); err != nil {
		return err
	}
	step("verify", "--datastore", o.datastore)
	if err := runAdmin(ctx, e, adminOptions{repoOptions: repoOptions{datastore: o.datastore}}, location{path: "/"}, admin.Request{Op: wire.AdminVerify}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nRestored into %s; compare: diff -r %s %s\n", out, src, out)
	fmt.Fprintf(e.stdout, "The datastore is %s. To serve it yourself:\n  backupfs serve --datastore %s\n", o.datastore, o.datastore)
	fmt.Fprintf(e.stdout, "  backupfs token create --datastore %s me --allow read:* --allow backup:*\n", o.datastore)
	fmt.Fprintf(e.stdout, "  BACKUPFS_FINGERPRINT=%s BACKUPFS_TOKEN=<secret> backupfs ls 127.0.0.1:/host/demo/latest/sample.tree/docs\n", srv.fingerprint)
	mp := filepath.Join(work, "mnt")
	step("mount", repo("/host/demo"), mp)
	return demoMount(ctx, e, o, ro, repo("/host/demo"), mp)
}

// demoMount mounts the demo group and waits for Ctrl-C (or, with
// --no-wait, lists the mount and unmounts at once).
func demoMount(ctx context.Context, e env, o demoOptions, ro repoOptions, repo, mp string) error {
	if err := os.Mkdir(mp, 0o755); err != nil {
		return err
	}
	if o.noWait {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			for i := 0; i < 200 && ctx.Err() == nil; i++ {
				if names, err := os.ReadDir(filepath.Join(mp, "latest", "sample")); err == nil && len(names) > 0 {
					fmt.Fprintf(e.stdout, "%s/latest/sample holds %d entries\n", mp, len(names))
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
		}()
	} else {
		fmt.Fprintf(e.stdout, "\nBrowse the backups: ls %s/latest/sample; cp -a %s/latest/sample ~/restored;\n"+
			"mount -o loop,ro %s/latest/disk.img /mnt would mount the image. Press Ctrl-C here to unmount and stop.\n", mp, mp, mp)
	}
	return runMount(ctx, e, mountOptions{repoOptions: ro, cacheSize: 64 << 20, readahead: 8 << 20}, []string{repo, mp})
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
