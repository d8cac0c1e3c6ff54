package backup

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/backupfs/backupfs/catalog"
)

// KnownSink is a Sink that can say which chunks the datastore holds among
// those this backup may use without uploading them: the network client
// asks the server (the digest query, remote/PROTOCOL.md), which answers
// from the snapshots of the groups the token may read, so a VM cloned from
// another group's template uploads only what differs. Known answers one
// bool per digest; a chunk answered true is usable in this backup and is
// referenced without upload; any other must be put. An image backup asks
// in batches before uploading (imageFeed); a tree backup does not ask.
type KnownSink interface {
	Known(ds []catalog.Digest) ([]bool, error)
}

// A batch of image chunks held while the sink is asked: bounded in count
// and bytes (the buffers are the chunks themselves).
const (
	knownBatchChunks = 256
	knownBatchBytes  = 32 << 20
)

// imageFeed passes an image's chunks to the pipe in order. With a
// KnownSink it holds a batch, hashes it, asks which chunks the sink holds
// and passes those by digest only; the rest go to the pipe with their
// digest, which stores them.
type imageFeed struct {
	p    *pipe
	dd   *dedup
	ks   KnownSink // nil: each chunk goes straight to the pipe
	bufs [][]byte
	zero []bool
	size int
}

func newImageFeed(p *pipe, dd *dedup) *imageFeed {
	ks, _ := dd.sink.(KnownSink)
	return &imageFeed{p: p, dd: dd, ks: ks}
}

// put takes buf (from getBuf; it now belongs to the feed); zero says it
// is known to be all zeros.
func (f *imageFeed) put(buf []byte, zero bool) error {
	if f.ks == nil {
		return f.p.putOwned(buf, zero)
	}
	f.bufs, f.zero = append(f.bufs, buf), append(f.zero, zero)
	f.size += len(buf)
	if len(f.bufs) >= knownBatchChunks || f.size >= knownBatchBytes {
		return f.flush()
	}
	return nil
}

// flush passes the held batch on, asking the sink first.
func (f *imageFeed) flush() error {
	if len(f.bufs) == 0 {
		return nil
	}
	ds := hashAll(f.p.dedup, f.bufs, f.zero)
	known, err := f.ask(ds)
	for i, buf := range f.bufs {
		switch {
		case err != nil:
			putBuf(buf)
		case f.zero[i]:
			err = f.p.putOwned(buf, true)
		case known[ds[i]]:
			f.dd.stats.KnownChunks.Add(1)
			f.dd.stats.KnownBytes.Add(int64(len(buf)))
			err = f.p.putKnown(ds[i], len(buf))
			putBuf(buf)
		default:
			err = f.p.putHashed(buf, ds[i])
		}
	}
	f.bufs, f.zero, f.size = f.bufs[:0], f.zero[:0], 0
	return err
}

// release gives back the buffers of a batch that will not be passed on.
func (f *imageFeed) release() {
	for _, b := range f.bufs {
		putBuf(b)
	}
	f.bufs, f.zero, f.size = f.bufs[:0], f.zero[:0], 0
}

// ask asks the sink about the batch's digests that are neither zero nor
// already put or known in this backup, nor lacking from the base, and
// returns those it holds (claimed: later twins are not asked again).
func (f *imageFeed) ask(ds []catalog.Digest) (map[catalog.Digest]bool, error) {
	var q []catalog.Digest
	asked := make(map[catalog.Digest]bool)
	for i, d := range ds {
		if f.zero[i] || asked[d] || f.dd.isSeen(d) || f.dd.lacks(d) {
			continue
		}
		asked[d] = true
		q = append(q, d)
	}
	known := make(map[catalog.Digest]bool)
	if len(q) == 0 {
		return known, nil
	}
	ans, err := f.ks.Known(q)
	if err == nil && len(ans) != len(q) {
		err = fmt.Errorf("%d answers for %d digests", len(ans), len(q))
	}
	if err != nil {
		return nil, fmt.Errorf("ask which chunks are known: %w", err)
	}
	for i, d := range q {
		if ans[i] && f.dd.claim(d) {
			known[d] = true
		}
	}
	return known, nil
}

// hashAll returns the digests of bufs (zero ones by length only; the
// others keyed ids in a sealed backup), hashed on as many goroutines as
// there are processors.
func hashAll(dd *dedup, bufs [][]byte, zero []bool) []catalog.Digest {
	ds := make([]catalog.Digest, len(bufs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(bufs)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(bufs); i = int(next.Add(1) - 1) {
				if zero[i] {
					ds[i] = catalog.ZeroDigest(len(bufs[i]))
				} else {
					ds[i] = dd.id(bufs[i])
				}
			}
		})
	}
	wg.Wait()
	return ds
}
