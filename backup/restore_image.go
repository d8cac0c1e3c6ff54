package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// ErrTargetExists is returned when a restore would overwrite something.
var ErrTargetExists = errors.New("backup: restore target exists")

// RestoreImage writes an image stream to target byte for byte. A new file
// is created (all-zero chunks become holes, so it is as sparse as it can
// be); an existing block device gets every byte of the image, zeros
// included (it may hold old data), from its start: a device smaller than
// the image is refused before anything is written, and the bytes of a
// larger one past the image are left as they are. Anything else that
// exists is refused. Chunks are fetched and written in parallel.
func RestoreImage(ctx context.Context, s *Stream, target string) error {
	f, device, err := openImageTarget(target)
	if err != nil {
		return err
	}
	werr := writeImage(ctx, s, f, device)
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		if !device {
			os.Remove(target)
		}
		return fmt.Errorf("restore %s: %w", target, werr)
	}
	return nil
}

func openImageTarget(target string) (*os.File, bool, error) {
	fi, err := os.Stat(target)
	if err == nil && fi.Mode()&fs.ModeDevice != 0 && fi.Mode()&fs.ModeCharDevice == 0 {
		f, err := os.OpenFile(target, os.O_WRONLY, 0)
		return f, true, err
	}
	if err == nil {
		return nil, false, fmt.Errorf("%w: %s (restore writes a new file or a block device)", ErrTargetExists, target)
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	return f, false, err
}

func writeImage(ctx context.Context, s *Stream, f *os.File, device bool) error {
	idx := s.Index()
	if device {
		size, err := deviceSize(f)
		if err != nil {
			return err
		}
		if size < s.Size() {
			return fmt.Errorf("block device of %d bytes is smaller than the image (%d bytes); nothing written", size, s.Size())
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(restoreWindow(idx))
	for i := range idx.NumChunks() {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			start, end, d := idx.Chunk(i)
			if !device && catalog.MatchZeroChunk(d, int(end-start)) {
				return nil // stays a hole
			}
			// Every chunk is wanted, none more than another: ahead of
			// need, so a network source batches them (fetchChunk).
			data, err := fetchChunk(gctx, s.src, idx, i, false)
			if err != nil {
				return err
			}
			_, err = f.WriteAt(data, int64(start))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !device {
		if err := f.Truncate(s.Size()); err != nil {
			return err
		}
	}
	return unix.Fsync(int(f.Fd()))
}

// restoreBytes bounds the chunk bytes an image restore has in flight.
const restoreBytes = 32 << 20

// restoreWindow is how many chunks an image restore fetches at once: a
// window of restoreBytes, at least one per CPU plus two (a local datastore
// reads and decodes on them) and at most 64 (the network client sends
// readahead in 4 requests of 16).
func restoreWindow(idx catalog.Index) int {
	n := 64
	if fi, ok := idx.(*catalog.FixedIndex); ok && fi.ChunkSize() > 0 {
		n = restoreBytes / int(fi.ChunkSize())
	}
	return max(runtime.GOMAXPROCS(0)+2, min(n, 64))
}
