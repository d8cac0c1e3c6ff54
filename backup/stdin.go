package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// ErrStdinSize is wrapped when standard input gives more or fewer bytes
// than Options.StdinSize: the backup fails and nothing is committed.
var ErrStdinSize = errors.New("backup: standard input size differs from --stdin-size")

// imageStdin writes an image archive of what opt.Stdin gives up to EOF:
// fixed chunks as for a file, all-zero chunks recognised by content (a
// stream has no holes to skip). With opt.StdinSize > 0 the stream must
// give exactly that many bytes.
func imageStdin(ctx context.Context, dd *dedup, opt *Options, name string, now time.Time) (*archiveOut, error) {
	iw, err := catalog.NewFixedIndexWriter(uint32(opt.FixedSize))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	p := newPipe(ctx, dd, iw.Add)
	feed := newImageFeed(p, dd)
	size, rerr := readStream(opt.Stdin, opt.StdinSize, opt.FixedSize, dd.stats, feed)
	if rerr == nil {
		rerr = feed.flush()
	}
	feed.release()
	if err := p.close(); rerr == nil {
		rerr = err
	}
	if rerr != nil {
		return nil, fmt.Errorf("image %s: standard input: %w", name, rerr)
	}
	out := &archiveOut{arch: catalog.Archive{Name: name, Kind: catalog.KindImage, Size: uint64(size)}}
	out.add(name+catalog.FixedIndexSuffix, iw.Encode(now))
	return out, nil
}

// readStream feeds the pipe chunk by chunk from r and returns the bytes
// read; want > 0 is the exact size r must give.
func readStream(r io.Reader, want int64, chunkSize int, st *Stats, p *imageFeed) (int64, error) {
	var size int64
	for {
		n := chunkSize
		if want > 0 {
			n = int(min(int64(chunkSize), want-size))
		}
		if n == 0 { // want reached: r must end here
			var one [1]byte
			if m, _ := io.ReadFull(r, one[:]); m > 0 {
				return size, fmt.Errorf("%w: more than %d bytes", ErrStdinSize, want)
			}
			return size, nil
		}
		buf := getBuf(n)
		m, err := io.ReadFull(r, buf)
		if m > 0 {
			st.Bytes.Add(int64(m))
			size += int64(m)
			if perr := p.put(buf[:m], isZero(buf[:m])); perr != nil {
				return size, perr
			}
		} else {
			putBuf(buf)
		}
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			if want > 0 && size != want {
				return size, fmt.Errorf("%w: ended after %d of %d bytes", ErrStdinSize, size, want)
			}
			return size, nil
		case err != nil:
			return size, fmt.Errorf("read at %d: %w", size, err)
		}
	}
}
