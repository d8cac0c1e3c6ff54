package fs

import (
	"bytes"
	"os"
	"syscall"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// TestZeroMessageOpen: when the kernel does zero-message opens, Open
// answers ENOSYS (write opens still EROFS, bad files still fail), and
// reads without a handle return the file's bytes; Flush is ENOSYS.
func TestZeroMessageOpen(t *testing.T) {
	f := newFixture(t)
	r, err := Root(Options{Repo: f.store, Cache: f.cache, Ref: catalog.Ref{Type: "vm", ID: "100", Time: catalog.Latest}})
	must(t, err)
	gofs.NewNodeFS(r, &gofs.Options{})
	r.(*snapshotNode).fsys.noOpen.Store(true)
	for _, tc := range []struct {
		path string
		want []byte
	}{
		{"root/files/fg", readFile(t, f.src+"/files/fg")},
		{"root/files/fb", readFile(t, f.src+"/files/fb")},
		{"root/a/hard2", readFile(t, f.src+"/hard1")},
		{"disk.img", f.image},
	} {
		n := walk(t, r, tc.path)
		o := n.(gofs.NodeOpener)
		if fh, _, en := o.Open(bg, syscall.O_RDONLY); en != syscall.ENOSYS || fh != nil {
			t.Errorf("%s: open: %v %v, want ENOSYS and no handle", tc.path, fh, en)
		}
		if _, _, en := o.Open(bg, syscall.O_RDWR); en != syscall.EROFS {
			t.Errorf("%s: open for write: %v, want EROFS", tc.path, en)
		}
		for _, off := range []int{0, len(tc.want) / 3, len(tc.want)} {
			got, en := readAt(n, nil, 100<<10, int64(off))
			end := min(off+100<<10, len(tc.want))
			if en != 0 || !bytes.Equal(got, tc.want[off:end]) {
				t.Errorf("%s: read at %d without a handle: %v, %d bytes", tc.path, off, en, len(got))
			}
		}
		if en := n.(gofs.NodeFlusher).Flush(bg, nil); en != syscall.ENOSYS {
			t.Errorf("%s: flush: %v, want ENOSYS", tc.path, en)
		}
	}
	if _, _, en := walk(t, r, "root/fifo").(gofs.NodeOpener).Open(bg, syscall.O_RDONLY); en != syscall.EINVAL {
		t.Errorf("open of a fifo: %v, want EINVAL", en)
	}
	if _, en := readAt(walk(t, r, "root/link"), nil, 10, 0); en != syscall.EINVAL {
		t.Errorf("read of a symlink without a handle: %v, want EINVAL", en)
	}
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	return b
}
