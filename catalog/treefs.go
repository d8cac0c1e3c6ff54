package catalog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// FS returns the catalog as an io/fs file system whose file contents come
// from payload: a file (or hardlink) reads payload[PayloadOffset:
// PayloadOffset+Size]. It implements fs.ReadDirFS, fs.StatFS and
// fs.ReadLinkFS. Open and Stat follow symlinks whose targets resolve
// inside the archive (relative targets, at most maxSymlinkHops of them);
// an absolute target or one climbing out of the root does not exist here.
// Devices and fifos open as empty files. FileInfo.Sys returns *Entry.
//
// A payload shorter than an entry claims gives io.ErrUnexpectedEOF, never
// short content. Open files keep a read position, so one fs.File must not
// be read from several goroutines at once (ReadAt is fine).
func (r *TreeReader) FS(payload io.ReaderAt) fs.FS { return &treeFS{r: r, payload: payload} }

const maxSymlinkHops = 40

type treeFS struct {
	r       *TreeReader
	payload io.ReaderAt
}

var (
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
	_ fs.ReadLinkFS = (*treeFS)(nil)
	_ fs.ReadFileFS = (*treeFS)(nil)
)

// maxResolveSteps bounds the lookups of one path resolution, so symlinks
// in a forged catalog cannot make one Stat do unbounded work.
const maxResolveSteps = 4096

// resolve returns the entry at an io/fs path name, following symlinks in
// every element but the last, and in the last too if follow is set. Like
// the kernel it walks incrementally: a relative target continues from the
// link's directory and ".." goes to the parent of the directory reached.
func (f *treeFS) resolve(op, name string, follow bool) (Entry, error) {
	fail := func(err error) (Entry, error) { return Entry{}, &fs.PathError{Op: op, Path: name, Err: err} }
	if !fs.ValidPath(name) {
		return fail(fs.ErrInvalid)
	}
	stack := []Entry{f.r.root} // the entries walked so far, root first
	var todo []string          // the elements still to walk, last first
	if name != "." {
		todo = pushElems(todo, name)
	}
	for hops, steps := 0, 0; len(todo) > 0; {
		el := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		top := stack[len(stack)-1]
		switch {
		case el == "" || el == ".":
			continue
		case el == ".." && top.Type != TypeDir:
			return fail(fmt.Errorf("%w: %q is not a directory (%w)", ErrNotExist, printable(top.Name), fs.ErrNotExist))
		case el == ".." && len(stack) == 1:
			return fail(fmt.Errorf("%w: a symlink points outside the archive (%w)", ErrNotExist, fs.ErrNotExist))
		case el == "..":
			stack = stack[:len(stack)-1]
			continue
		}
		if steps++; steps > maxResolveSteps {
			return fail(fmt.Errorf("%w: more than %d lookups through symlinks", fs.ErrInvalid, maxResolveSteps))
		}
		e, err := f.r.Lookup(top, el)
		if err != nil {
			return fail(err)
		}
		if e.Type != TypeSymlink || len(todo) == 0 && !follow {
			stack = append(stack, e)
			continue
		}
		if hops++; hops > maxSymlinkHops {
			return fail(fmt.Errorf("%w: too many levels of symbolic links", fs.ErrInvalid))
		}
		if path.IsAbs(e.Symlink) {
			return fail(fmt.Errorf("%w: symlink %q points outside the archive (%w)", ErrNotExist, printable(e.Symlink), fs.ErrNotExist))
		}
		todo = pushElems(todo, e.Symlink)
	}
	return stack[len(stack)-1], nil
}

// pushElems pushes p's slash-separated elements onto todo, last first.
func pushElems(todo []string, p string) []string {
	elems := strings.Split(p, "/")
	for i := len(elems) - 1; i >= 0; i-- {
		todo = append(todo, elems[i])
	}
	return todo
}

func (f *treeFS) Open(name string) (fs.File, error) {
	e, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	info := newFileInfo(name, e)
	if e.Type == TypeDir {
		return &dirHandle{fsys: f, info: info}, nil
	}
	h := &fileHandle{info: info, payload: f.payload}
	if e.Type == TypeFile || e.Type == TypeHardlink {
		h.base, h.size = e.PayloadOffset, e.Size
	}
	return h, nil
}

// ReadFile reads a whole file. It never trusts the catalog's size for an
// allocation: with a payload that has a Size method (bytes.Reader,
// io.SectionReader) the range is checked first, and otherwise the buffer
// grows only as bytes actually arrive.
func (f *treeFS) ReadFile(name string) ([]byte, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	h, ok := file.(*fileHandle)
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	if s, ok := f.payload.(interface{ Size() int64 }); ok && h.size > 0 {
		if ps := uint64(max(s.Size(), 0)); h.base > ps || h.size > ps-h.base {
			return nil, &fs.PathError{Op: "read", Path: name, Err: io.ErrUnexpectedEOF}
		}
		b := make([]byte, h.size)
		n, err := h.ReadAt(b, 0)
		return b[:n], err
	}
	return io.ReadAll(h)
}

func (f *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := f.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	list, err := f.readDir(name, e)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return list, nil
}

func (f *treeFS) readDir(name string, dir Entry) ([]fs.DirEntry, error) {
	entries, err := f.r.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	list := make([]fs.DirEntry, len(entries))
	for i := range entries {
		list[i] = newFileInfo(path.Join(name, entries[i].Name), entries[i])
	}
	return list, nil
}

func (f *treeFS) Stat(name string) (fs.FileInfo, error) {
	e, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return newFileInfo(name, e), nil
}

func (f *treeFS) Lstat(name string) (fs.FileInfo, error) {
	e, err := f.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return newFileInfo(name, e), nil
}

func (f *treeFS) ReadLink(name string) (string, error) {
	e, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if e.Type != TypeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fmt.Errorf("not a symlink: %w", fs.ErrInvalid)}
	}
	return e.Symlink, nil
}
