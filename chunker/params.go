package chunker

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/backupfs/backupfs/catalog"
)

// ErrParams reports chunking parameters that Validate refuses.
var ErrParams = errors.New("chunker: invalid params")

// MinAvg is the smallest average chunk size Params accepts. Below it the
// normalized masks would have too few bits to mean anything, and chunks this
// small cost more in index entries than they could ever save in dedup.
const MinAvg = 64

// Params are the bounds of content-defined chunking. Avg is the target size:
// a cut is looked for with a mask of log2(Avg) bits (normalized, see the
// package doc), so Avg must be a power of two. No chunk is shorter than Min
// (except the last of a stream) or longer than Max.
type Params struct {
	Min, Avg, Max int
}

// DefaultParams is used for both streams of a tree archive (file payload and
// metadata catalog): 128 KiB average, Min = Avg/4, Max = 4*Avg. The package
// doc argues the choice from measurements: the largest average whose chunk
// a random read lands in decodes and verifies in half the 0.5 ms budget.
var DefaultParams = Params{Min: 32 << 10, Avg: 128 << 10, Max: 512 << 10}

// DefaultFixedSize is the chunk size of image archives: 128 KiB, not the
// 4 MiB first proposed, whose decode and verify alone take ~5 ms per cold
// random read (package doc).
const DefaultFixedSize = 128 << 10

// LargeFixedSize is the image chunk size on a datastore that keeps every
// chunk as an object of its own (store/objstore): each chunk is a request
// there, billed and served one by one, and the object store's own work per
// request, not the bytes, bounds a sequential read (bench/s3.sh: versitygw
// spent 3.2 CPU s on the 5,700 GETs of a 1 GiB image, more than the server
// and the mount). 1 MiB is 8x fewer requests than DefaultFixedSize, and a
// cold random read decodes and verifies ~1.3 ms of it, small beside an
// object store's GET. A backup takes it when the datastore asks for it
// (backup.ImageChunker) and its Options.FixedSize is 0. Tree streams keep
// DefaultParams everywhere: change detection reuses a previous snapshot's
// chunks, and their small files are what `cp -a` reads at random.
const LargeFixedSize = 1 << 20

// Validate checks 1 <= Min < Avg < Max <= catalog.MaxChunkSize, Avg a power
// of two and at least MinAvg. Errors wrap ErrParams.
func (p Params) Validate() error {
	switch {
	case p.Avg < MinAvg || bits.OnesCount(uint(p.Avg)) != 1:
		return fmt.Errorf("%w: avg %d: want a power of two >= %d", ErrParams, p.Avg, MinAvg)
	case p.Min < 1 || p.Min >= p.Avg:
		return fmt.Errorf("%w: min %d: want 1 <= min < avg %d", ErrParams, p.Min, p.Avg)
	case p.Max <= p.Avg || p.Max > catalog.MaxChunkSize:
		return fmt.Errorf("%w: max %d: want avg %d < max <= %d", ErrParams, p.Max, p.Avg, catalog.MaxChunkSize)
	}
	return nil
}

// validFixed checks a fixed chunk size: a power of two in [MinAvg, MaxChunkSize].
func validFixed(size int) error {
	if size < MinAvg || size > catalog.MaxChunkSize || bits.OnesCount(uint(size)) != 1 {
		return fmt.Errorf("%w: fixed size %d: want a power of two in [%d, %d]",
			ErrParams, size, MinAvg, catalog.MaxChunkSize)
	}
	return nil
}
