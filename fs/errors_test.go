package fs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	gofs "github.com/hanwen/go-fuse/v2/fs"
)

func TestErrno(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want syscall.Errno
		logs bool
	}{
		{nil, 0, false},
		{fmt.Errorf("x: %w", catalog.ErrNotExist), syscall.ENOENT, false},
		{fmt.Errorf("x: %w", fs.ErrNotExist), syscall.ENOENT, false},
		{fmt.Errorf("read: %w", context.Canceled), syscall.EINTR, false},
		{syscall.EINTR, syscall.EINTR, false},
		{fmt.Errorf("a: offset 5: chunk ab: %w", context.DeadlineExceeded), syscall.EIO, true},
		{fmt.Errorf("x: %w", catalog.ErrChecksum), syscall.EIO, true},
		{io.ErrUnexpectedEOF, syscall.EIO, true},
	} {
		var log bytes.Buffer
		f := &filesys{log: slog.New(slog.NewTextHandler(&log, nil))}
		if got := f.errno("read", "vm/1/T/a.img", tc.err); got != tc.want {
			t.Errorf("errno(%v) = %v, want %v", tc.err, got, tc.want)
		}
		if logged := strings.Count(log.String(), "\n"); logged != map[bool]int{true: 1}[tc.logs] {
			t.Errorf("errno(%v) logged %d lines: %q", tc.err, logged, log.String())
		}
		if tc.logs && !strings.Contains(log.String(), "a.img") {
			t.Errorf("log line does not name the archive: %q", log.String())
		}
	}
}

// TestMissingChunkEIO: with the chunks gone, a read fails with EIO and a
// log line; it never returns zeros.
func TestMissingChunkEIO(t *testing.T) {
	f := newFixture(t)
	var log bytes.Buffer
	r, err := Root(Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{Type: "vm", ID: "100", Time: catalog.Latest},
		Log: slog.New(slog.NewTextHandler(&log, nil))})
	must(t, err)
	gofs.NewNodeFS(r, &gofs.Options{})
	file := walk(t, r, "root/files/fg")
	img := walk(t, r, "disk.img")
	ffh, ifh := open(t, file), open(t, img)
	must(t, filepath.WalkDir(filepath.Join(f.store.Dir(), ".chunks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			err = os.Remove(p)
		}
		return err
	}))
	for _, c := range []struct {
		n  gofs.InodeEmbedder
		fh gofs.FileHandle
	}{{file, ffh}, {img, ifh}} {
		got, en := readAt(c.n, c.fh, 4096, 4096)
		if en != syscall.EIO || got != nil {
			t.Errorf("%T: read of a missing chunk: %v, %d bytes", c.n, en, len(got))
		}
	}
	if !strings.Contains(log.String(), "disk.img") || !strings.Contains(log.String(), "root.tree") {
		t.Errorf("log does not name the archives: %s", log.String())
	}
}

// TestReadCancelled: a read whose request was interrupted gives EINTR.
func TestReadCancelled(t *testing.T) {
	f := newFixture(t)
	n := walk(t, f.root(t, catalog.Ref{Type: "vm", ID: "100", Time: catalog.Latest}), "root/files/fg")
	fh := open(t, n)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, en := n.(gofs.NodeReader).Read(ctx, fh, make([]byte, 4096), 0)
	if en != syscall.EINTR {
		t.Errorf("cancelled read: %v, want EINTR", en)
	}
}

// TestShortPayload: a file whose range runs past the payload stream is an
// error, not a short read.
func TestShortPayload(t *testing.T) {
	f := newFixture(t)
	// sparse is the last file of the payload stream (sorted depth-first).
	n := walk(t, f.root(t, catalog.Ref{Type: "vm", ID: "100", Time: catalog.Latest}), "root/sparse").(*treeNode)
	n.e.Size += 10
	fh := open(t, n)
	if _, en := readAt(n, fh, 100, int64(n.e.Size)-50); en != syscall.EIO {
		t.Errorf("read past the payload: %v, want EIO", en)
	}
}

func TestRootRefusals(t *testing.T) {
	f := newFixture(t)
	for _, ref := range []catalog.Ref{
		{Type: "vm", ID: "101"},
		{Type: "vm", ID: "100", Time: "2020-01-01T00:00:00Z"},
		{Type: "ct", ID: "1", Time: catalog.Latest},
		{Type: "vm", ID: "100", Time: catalog.Latest, Archive: "root.tree"},
	} {
		if _, err := Root(Options{Repo: f.store, Cache: f.cache, Ref: ref}); err == nil {
			t.Errorf("Root(%s) succeeded", ref)
		}
	}
	if _, err := Root(Options{Repo: f.store}); err == nil {
		t.Error("Root without a cache succeeded")
	}
}
