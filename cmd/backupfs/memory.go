package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/backupfs/backupfs/cache"
)

// A mount's memory bound is its cache size plus 64 MiB (issue 5). About
// 10 MiB of its RSS is the mapped binary, which the Go runtime does not
// count, so the runtime gets a soft limit of cache size + memHeadroom.
// The rest of the live heap grows with use: after cp -a of a 27,000-file
// tree the kernel still holds every inode, about 820 bytes each in the
// mount (half of them go-fuse's), and request buffers and readahead in
// flight come on top. So the cache lends bytes to that memory
// (cache.SetReserve): it shrinks until the live heap is gcSlack under the
// limit, and its readahead window shrinks with it. The collector then
// runs when the heap grows by gcSlack, about as often as GOGC 30 made it
// run without lending, instead of back to back at the limit.
//
// Dev mount, the bench tree and image, each build twice, interleaved,
// same session: VmHWM after dd of the image and after cp -a of the tree,
// cp -a seconds, mount CPU seconds, collections:
//
//	GOGC 30, limit +96 (before):       124-126 / 157 MiB, 11.3-11.7 s, 8.8-9.1 s, 119
//	GOGC 30, limit +52, slack 24:      111 / 117-122 MiB, 13.1-13.5 s, 11.6-11.7 s, 302-329
//	GOGC 100, limit +48, slack 36:     106-108 / 109 MiB, 12.2-12.8 s, 10.0-10.4 s, 167-169
//	the same, readahead <= bound / 2:  107-109 / 108-109 MiB, 11.8-12.0 s, 9.2-9.5 s, 134-136
//
// Without the readahead bound, a cache lent down below the 32 MiB window
// evicted chunks read ahead before they were read. Earlier settings
// (bench/run, cp -a of the tree then dd of the image):
//
//	cache 128M, no GOGC, limit +32M: cp -a 14.4 s, VmHWM 185/230 MiB
//	  (the live heap sat at the limit: the GC took a quarter of the CPU)
//	cache 96M, GOGC 25, limit 192M:  cp -a 12.9 s, VmHWM 156/195 MiB
//	cache 64M, GOGC 50, limit +96M:  cp -a 12.6 s, VmHWM 138/163 MiB
const (
	memHeadroom = 48 << 20
	gcSlack     = 36 << 20
	memEvery    = 250 * time.Millisecond
)

// setMemoryLimits sets the soft limit and GOGC 100 (the limit, not GOGC,
// decides when to collect once the cache is full), unless the environment
// sets them.
func setMemoryLimits(cacheSize int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(100)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(cacheSize + memHeadroom)
	}
}

// cacheReserve is what the cache lends when the live heap is live bytes,
// cached of them in the cache: what the rest uses beyond the headroom
// left once gcSlack is kept free.
func cacheReserve(live, cached int64) int64 {
	return live - cached - (memHeadroom - gcSlack)
}

// lendCache adjusts the cache's reserve from the live heap the last
// collection measured, until ctx ends.
func lendCache(ctx context.Context, c *cache.Cache) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(memEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return // not in this Go: the cache keeps its whole size
		}
		c.SetReserve(cacheReserve(int64(sample[0].Value.Uint64()), c.Stats().Bytes))
	}
}
