package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/backupfs/backupfs/fs"
	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// mountMem mounts dir's tree, read into memory first, at mountpoint. It
// returns the server, the raw file system (its counts, for tests) and the
// latency request, a file to close after the unmount.
func mountMem(dir, mountpoint string, opts *gofs.Options) (*fuse.Server, *fs.StatelessDirs, *os.File, error) {
	root, err := readTree(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	hold, err := holdLatency()
	if err != nil {
		return nil, nil, nil, err
	}
	dirs := &fs.StatelessDirs{RawFileSystem: gofs.NewNodeFS(root, opts)}
	srv, err := fuse.NewServer(dirs, mountpoint, &opts.MountOptions)
	if err != nil {
		hold.Close()
		return nil, nil, nil, err
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		_ = srv.Unmount()
		hold.Close()
		return nil, nil, nil, err
	}
	dirs.Offered(srv.KernelSettings().Flags64())
	return srv, dirs, hold, nil
}

// memEntry is one entry of the tree held in memory: its attributes, and
// a symlink's target.
type memEntry struct {
	gofs.Inode
	attr fuse.Attr
	link []byte
}

var (
	_ = (gofs.NodeGetattrer)((*memEntry)(nil))
	_ = (gofs.NodeReadlinker)((*memEntry)(nil))
)

func (e *memEntry) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if e.link == nil {
		return nil, syscall.EINVAL
	}
	return e.link, 0
}

func (e *memEntry) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Attr = e.attr
	return 0
}

// memRoot builds the whole tree when go-fuse adds the root, before the
// mount exists.
type memRoot struct {
	memEntry
	entries []memChild // the tree in walk order, parents before children
}

// memChild is an entry read from disk, and the index of its parent in
// memRoot.entries (-1: the root).
type memChild struct {
	parent int
	name   string
	entry  *memEntry
}

var _ = (gofs.NodeOnAdder)((*memRoot)(nil))

func (r *memRoot) OnAdd(ctx context.Context) {
	inodes := make([]*gofs.Inode, len(r.entries))
	for i, c := range r.entries {
		parent := &r.Inode
		if c.parent >= 0 {
			parent = inodes[c.parent]
		}
		a := c.entry.attr
		inodes[i] = parent.NewPersistentInode(ctx, c.entry, gofs.StableAttr{Mode: a.Mode &^ 0o7777, Ino: a.Ino})
		parent.AddChild(c.name, inodes[i], false)
	}
}

// readTree reads dir's names and attributes (lstat) into a memRoot.
func readTree(dir string) (*memRoot, error) {
	r := &memRoot{}
	if err := lstatAttr(dir, &r.attr); err != nil {
		return nil, err
	}
	var walk func(path string, parent int) error
	walk = func(path string, parent int) error {
		des, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		for _, de := range des {
			p := filepath.Join(path, de.Name())
			e := &memEntry{}
			if err := lstatAttr(p, &e.attr); err != nil {
				return err
			}
			if de.Type()&os.ModeSymlink != 0 {
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				e.link = []byte(target)
			}
			r.entries = append(r.entries, memChild{parent: parent, name: de.Name(), entry: e})
			if de.IsDir() {
				if err := walk(p, len(r.entries)-1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(dir, -1); err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	return r, nil
}

func lstatAttr(path string, a *fuse.Attr) error {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	a.FromStat(&st)
	return nil
}
