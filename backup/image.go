package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// isZero reports whether b is all zeros: its first byte is zero and every
// byte equals the next (one overlapping memcmp, and no 8 MiB zero buffer
// in every process that links this package, the mount included).
func isZero(b []byte) bool {
	return len(b) == 0 || b[0] == 0 && bytes.Equal(b[:len(b)-1], b[1:])
}

// backupImage writes an image archive of sp: its file or block device
// (imageFile), or standard input (stdin.go). A dry run only lists it.
func backupImage(ctx context.Context, dd *dedup, opt *Options, sp Spec, now time.Time) (*archiveOut, error) {
	if opt.List != nil {
		opt.List(sp.Name)
	}
	if opt.DryRun {
		return &archiveOut{arch: catalog.Archive{Name: sp.Name, Kind: catalog.KindImage}}, nil
	}
	if sp.Path == StdinPath {
		return imageStdin(ctx, dd, opt, sp.Name, now)
	}
	return imageFile(ctx, dd, sp.Name, sp.Path, opt.FixedSize, now)
}

// imageFile writes an image archive of the file or block device at path:
// fixed chunks of chunkSize, all-zero chunks recognised by content, holes of
// sparse files skipped without reading them.
func imageFile(ctx context.Context, dd *dedup, name, path string, chunkSize int, now time.Time) (*archiveOut, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	defer f.Close()
	size, err := deviceSize(f)
	if err != nil {
		return nil, fmt.Errorf("image %s: %s: %w", name, path, err)
	}
	iw, err := catalog.NewFixedIndexWriter(uint32(chunkSize))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	p := newPipe(ctx, dd, iw.Add)
	feed := newImageFeed(p, dd)
	perr := readImage(f, size, chunkSize, dd.stats, feed)
	if perr == nil {
		perr = feed.flush()
	}
	feed.release()
	if err := p.close(); perr == nil {
		perr = err
	}
	if perr != nil {
		return nil, fmt.Errorf("image %s: %s: %w", name, path, perr)
	}
	out := &archiveOut{arch: catalog.Archive{Name: name, Kind: catalog.KindImage, Size: uint64(size)}}
	out.add(name+catalog.FixedIndexSuffix, iw.Encode(now))
	return out, nil
}

// readImage feeds the image chunk by chunk.
func readImage(f *os.File, size int64, chunkSize int, st *Stats, p *imageFeed) error {
	holes := newHoleFinder(f, size)
	for off := int64(0); off < size; off += int64(chunkSize) {
		n := int(min(int64(chunkSize), size-off))
		buf := getBuf(n)
		zero := holes.isHole(off, int64(n))
		if zero {
			clear(buf)
		} else {
			if _, err := f.ReadAt(buf, off); err != nil {
				putBuf(buf)
				return fmt.Errorf("read at %d: %w", off, err)
			}
			zero = isZero(buf)
		}
		st.Bytes.Add(int64(n))
		if err := p.put(buf, zero); err != nil {
			return err
		}
	}
	return nil
}

// deviceSize returns the size of a regular file or a block device.
func deviceSize(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if fi.Mode().IsRegular() {
		return fi.Size(), nil
	}
	if fi.Mode()&os.ModeDevice == 0 || fi.Mode()&os.ModeCharDevice != 0 {
		return 0, fmt.Errorf("not a regular file or block device")
	}
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	_, err = f.Seek(0, io.SeekStart)
	return n, err
}

// holeFinder answers "is [off, off+n) entirely a hole?" with SEEK_DATA,
// one lseek per question at most, so holes are never read. Files where
// lseek does not know holes (block devices, some filesystems) report none.
type holeFinder struct {
	fd       int
	size     int64
	nextData int64 // first data offset >= the last asked offset; -1 unknown
	disabled bool
}

func newHoleFinder(f *os.File, size int64) *holeFinder {
	h := &holeFinder{fd: int(f.Fd()), size: size, nextData: -1}
	var st unix.Stat_t
	if err := unix.Fstat(h.fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Blocks*512 >= size {
		h.disabled = true // not a file, or fully allocated: no holes to find
	}
	return h
}

func (h *holeFinder) isHole(off, n int64) bool {
	if h.disabled {
		return false
	}
	if h.nextData < off {
		d, err := unix.Seek(h.fd, off, unix.SEEK_DATA)
		switch {
		case errors.Is(err, unix.ENXIO):
			d = h.size // no data after off
		case err != nil:
			h.disabled = true
			return false
		}
		h.nextData = d
	}
	return h.nextData >= off+n
}
