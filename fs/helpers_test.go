package fs

import (
	"context"
	"strings"
	"syscall"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

var bg = context.Background()

// lookup calls dir's Lookup and returns the child's node.
func lookup(t testing.TB, dir gofs.InodeEmbedder, name string) (gofs.InodeEmbedder, *fuse.EntryOut, syscall.Errno) {
	t.Helper()
	var out fuse.EntryOut
	l, ok := dir.(gofs.NodeLookuper)
	if !ok {
		t.Fatalf("%T has no Lookup", dir)
	}
	in, en := l.Lookup(bg, name, &out)
	if en != 0 {
		return nil, &out, en
	}
	return in.Operations(), &out, 0
}

// walk looks up a slash-separated path from dir, failing the test on error.
func walk(t testing.TB, dir gofs.InodeEmbedder, p string) gofs.InodeEmbedder {
	t.Helper()
	for el := range strings.SplitSeq(p, "/") {
		n, _, en := lookup(t, dir, el)
		if en != 0 {
			t.Fatalf("lookup %q of %q: %v", el, p, en)
		}
		dir = n
	}
	return dir
}

// readdir lists a directory node the way the bridge does.
func readdir(t testing.TB, dir gofs.InodeEmbedder) []fuse.DirEntry {
	t.Helper()
	var out []fuse.DirEntry
	if h, ok := dir.(gofs.NodeOpendirHandler); ok {
		fh, _, en := h.OpendirHandle(bg, 0)
		if en != 0 {
			t.Fatalf("opendir: %v", en)
		}
		d := fh.(gofs.FileReaddirenter)
		for {
			e, en := d.Readdirent(bg)
			if en != 0 {
				t.Fatalf("readdirent: %v", en)
			}
			if e == nil {
				return out
			}
			out = append(out, *e)
		}
	}
	s, en := dir.(gofs.NodeReaddirer).Readdir(bg)
	if en != 0 {
		t.Fatalf("readdir: %v", en)
	}
	for s.HasNext() {
		e, en := s.Next()
		if en != 0 {
			t.Fatalf("readdir next: %v", en)
		}
		out = append(out, e)
	}
	return out
}

func names(es []fuse.DirEntry) string {
	var s []string
	for _, e := range es {
		s = append(s, e.Name)
	}
	return strings.Join(s, " ")
}

func getattr(t testing.TB, n gofs.InodeEmbedder) fuse.Attr {
	t.Helper()
	var out fuse.AttrOut
	if en := n.(gofs.NodeGetattrer).Getattr(bg, nil, &out); en != 0 {
		t.Fatalf("getattr: %v", en)
	}
	return out.Attr
}

// open opens a file node for reading.
func open(t testing.TB, n gofs.InodeEmbedder) gofs.FileHandle {
	t.Helper()
	fh, flags, en := n.(gofs.NodeOpener).Open(bg, syscall.O_RDONLY)
	if en != 0 {
		t.Fatalf("open: %v", en)
	}
	if flags&fuse.FOPEN_KEEP_CACHE == 0 {
		t.Errorf("open flags %#x lack FOPEN_KEEP_CACHE", flags)
	}
	return fh
}

// readAt reads len(p) bytes at off through node n's Read and handle fh.
func readAt(n gofs.InodeEmbedder, fh gofs.FileHandle, size int, off int64) ([]byte, syscall.Errno) {
	buf := make([]byte, size)
	res, en := n.(gofs.NodeReader).Read(bg, fh, buf, off)
	if en != 0 {
		return nil, en
	}
	b, st := res.Bytes(nil)
	if !st.Ok() {
		return nil, syscall.EIO
	}
	return b, 0
}
