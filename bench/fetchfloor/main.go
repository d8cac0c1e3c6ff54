// Command fetchfloor measures what one cold random read of an image costs
// over the protocol, without the mount: it asks a running server for
// chunks of an image archive one at a time (DEMAND, as a read that misses
// the cache does), at chunk positions drawn uniformly as fio's random
// offsets are, and times each fetch: the request, the server's blob read,
// TLS both ways, zstd and SHA-256. An all-zero chunk is never fetched (a
// mount serves it from memory) and counts as 0. A 4 KiB random read through
// the mount pays this and a FUSE round trip, so its percentiles bound
// fio's; bench/run prints them as floor rows under fio's.
//
//	fetchfloor [-n N] [-seed S] HOST:PORT GROUP ARCHIVE
//
// BACKUPFS_TOKEN and BACKUPFS_FINGERPRINT are read as by backupfs. It reads
// the group's latest snapshot and prints one line:
//
//	p50_ms=0.561 p99_ms=1.94 n=2000 fetched=1532
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/client"
)

func main() {
	n := flag.Int("n", 2000, "reads")
	seed := flag.Uint64("seed", 1, "seed of the chunk positions")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: fetchfloor [-n N] [-seed S] HOST:PORT GROUP ARCHIVE")
		os.Exit(2)
	}
	flag.Parse()
	if flag.NArg() != 3 || *n < 1 {
		flag.Usage()
	}
	lat, fetched, err := run(flag.Arg(0), flag.Arg(1), flag.Arg(2), *n, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fetchfloor:", err)
		os.Exit(1)
	}
	fmt.Printf("p50_ms=%.3f p99_ms=%.3f n=%d fetched=%d\n", ms(percentile(lat, 50)), ms(percentile(lat, 99)), len(lat), fetched)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// percentile returns the p-th percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

// run times n chunk reads of the image archive and returns their sorted
// latencies and how many were fetched (the rest were all-zero chunks).
func run(addr, group, archive string, n int, seed uint64) ([]time.Duration, int, error) {
	g, err := catalog.ParseGroup(group)
	if err != nil {
		return nil, 0, err
	}
	ctx := context.Background()
	c, err := client.Dial(ctx, client.ClientConfig{Addr: addr, Token: os.Getenv("BACKUPFS_TOKEN"),
		Fingerprint: os.Getenv("BACKUPFS_FINGERPRINT")})
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	ts, err := c.Snapshots(g)
	if err != nil {
		return nil, 0, err
	}
	if len(ts) == 0 {
		return nil, 0, fmt.Errorf("group %s has no snapshot", g)
	}
	snap, err := backup.OpenSnapshot(c, g, ts[len(ts)-1])
	if err != nil {
		return nil, 0, err
	}
	img, err := snap.Image(archive)
	if err != nil {
		return nil, 0, err
	}
	idx := img.Index()
	if idx.NumChunks() == 0 {
		return nil, 0, fmt.Errorf("%s is empty", archive)
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	lat := make([]time.Duration, 0, n)
	fetched := 0
	for range n {
		start, end, d := idx.Chunk(rng.IntN(idx.NumChunks()))
		if catalog.MatchZeroChunk(d, int(end-start)) {
			lat = append(lat, 0)
			continue
		}
		t := time.Now()
		if _, err := c.ChunkContext(ctx, d, true); err != nil {
			return nil, 0, err
		}
		lat = append(lat, time.Since(t))
		fetched++
	}
	slices.Sort(lat)
	return lat, fetched, nil
}
