package fs

import (
	"slices"
	"strings"
	"sync"

	"github.com/backupfs/backupfs/catalog"
)

// Store-ahead: cp -a, tar and grep -r read a directory's small files one
// after another, each with a READ request: a round trip between processes
// that costs tens of microseconds here, a quarter of cp -a's requests.
// After the kernel reads a whole small file, the mount pushes the next
// files of the same directory into the kernel's page cache (a
// NOTIFY_STORE write, no round trip), so their reads never reach it. Only
// bytes already in the chunk cache are pushed (the payload's readahead put
// them there): store-ahead never fetches, and a directory listing (ls,
// find) pushes nothing.
const (
	storeAheadFiles = 32        // files pushed after one read
	storeAheadBytes = 1 << 20   // bytes pushed after one read
	storeAheadMax   = 256 << 10 // larger files are read the usual way
	// storeAheadScan bounds the entries looked at after one read: in a
	// big directory the files after the first ones were pushed already.
	storeAheadScan = 4 * storeAheadFiles
)

// storeAheadBufs holds the buffers store-ahead copies a file into before
// the NOTIFY_STORE write, which copies it into the kernel before it
// returns: one buffer serves a whole run. A new buffer per file was a
// quarter of the bytes a cold cp -a of the bench tree allocated (166 of
// 651 MB), each of them collected again.
var storeAheadBufs = sync.Pool{New: func() any { b := make([]byte, storeAheadMax); return &b }}

// storeAhead pushes the files after n in its directory, in listing order,
// until one is not wholly in the chunk cache or a bound is reached.
// Files the kernel has no inode for, or that were read or pushed
// already, are skipped.
func (n *treeNode) storeAhead() {
	name, parent := n.Parent()
	if parent == nil {
		return
	}
	dir, ok := parent.Operations().(*treeNode)
	if !ok {
		return
	}
	kids := dir.loadedKids()
	i, found := slices.BinarySearchFunc(kids, name, func(e catalog.Entry, name string) int {
		return strings.Compare(e.Name, name)
	})
	if !found {
		return
	}
	files, bytes := 0, int64(0)
	bp := storeAheadBufs.Get().(*[]byte)
	defer storeAheadBufs.Put(bp)
	for k, e := range kids[i+1:] {
		if files == storeAheadFiles || bytes >= storeAheadBytes || k == storeAheadScan {
			return
		}
		if e.Type != catalog.TypeFile || e.Size == 0 || e.Size > storeAheadMax {
			continue
		}
		child := parent.GetChild(e.Name)
		if child == nil {
			continue
		}
		cn, ok := child.Operations().(*treeNode)
		if !ok || cn.inKernel.Swap(true) {
			continue
		}
		buf := (*bp)[:e.Size]
		if !n.t.payload.ReadCached(buf, int64(e.PayloadOffset)) {
			cn.inKernel.Store(false)
			return // the files after it lie further on in the payload
		}
		if child.WriteCache(0, buf) != 0 {
			cn.inKernel.Store(false)
			return
		}
		n.fsys.storedAhead.Add(1)
		files++
		bytes += int64(e.Size)
	}
}

// loadedKids returns the directory's table if it is loaded, else nil.
func (n *treeNode) loadedKids() []catalog.Entry {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.loaded {
		return nil
	}
	return n.kids
}
