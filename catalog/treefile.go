package catalog

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"time"
)

// fileInfo is both the fs.FileInfo and the fs.DirEntry of an entry.
type fileInfo struct {
	name string
	e    *Entry
}

func newFileInfo(name string, e Entry) *fileInfo {
	return &fileInfo{name: path.Base(name), e: &e}
}

func (fi *fileInfo) Name() string               { return fi.name }
func (fi *fileInfo) Size() int64                { return int64(min(fi.e.Size, 1<<63-1)) }
func (fi *fileInfo) Mode() fs.FileMode          { return fi.e.FileMode() }
func (fi *fileInfo) ModTime() time.Time         { return time.Unix(0, fi.e.MtimeNs) }
func (fi *fileInfo) IsDir() bool                { return fi.e.Type == TypeDir }
func (fi *fileInfo) Sys() any                   { return fi.e }
func (fi *fileInfo) Type() fs.FileMode          { return fi.Mode().Type() }
func (fi *fileInfo) Info() (fs.FileInfo, error) { return fi, nil }
func (fi *fileInfo) String() string             { return fs.FormatFileInfo(fi) }

// fileHandle is an open file, device or fifo (the last two are empty).
type fileHandle struct {
	info       *fileInfo
	payload    io.ReaderAt
	base, size uint64
	pos        int64
}

func (h *fileHandle) Stat() (fs.FileInfo, error) { return h.info, nil }
func (h *fileHandle) Close() error               { return nil }

func (h *fileHandle) Read(p []byte) (int, error) {
	n, err := h.ReadAt(p, h.pos)
	h.pos += int64(n)
	return n, err
}

// ReadAt reads the entry's content; a payload that ends early is
// io.ErrUnexpectedEOF.
func (h *fileHandle) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: h.info.name, Err: fs.ErrInvalid}
	}
	if uint64(off) >= h.size {
		return 0, io.EOF
	}
	want := int(min(uint64(len(p)), h.size-uint64(off)))
	if h.payload == nil || h.base+uint64(off) > 1<<62 {
		return 0, &fs.PathError{Op: "read", Path: h.info.name, Err: errors.New("catalog: no payload for this range")}
	}
	n, err := h.payload.ReadAt(p[:want], int64(h.base)+off)
	if n == want {
		if want < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, &fs.PathError{Op: "read", Path: h.info.name, Err: err}
}

func (h *fileHandle) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += h.pos
	case io.SeekEnd:
		offset += h.info.Size()
	case io.SeekStart:
	default:
		offset = -1
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: h.info.name, Err: fs.ErrInvalid}
	}
	h.pos = offset
	return offset, nil
}

// dirHandle is an open directory; its entries load on the first ReadDir.
type dirHandle struct {
	fsys    *treeFS
	info    *fileInfo
	entries []fs.DirEntry
	loaded  bool
}

func (d *dirHandle) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirHandle) Close() error               { return nil }

func (d *dirHandle) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}

func (d *dirHandle) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.loaded {
		list, err := d.fsys.readDir(d.info.name, *d.info.e)
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: d.info.name, Err: err}
		}
		d.entries, d.loaded = list, true
	}
	if n <= 0 {
		list := d.entries
		d.entries = nil
		return list, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.entries))
	list := d.entries[:n:n]
	d.entries = d.entries[n:]
	return list, nil
}
