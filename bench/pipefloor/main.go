// Command pipefloor measures what the work a cold sequential read through
// backupfs cannot avoid takes on this machine, with none of backupfs's own
// machinery around it. It reads the chunks of an image archive (or of one
// file of a tree archive) cold from a datastore, many at a time as the
// server's readahead does, checking each blob's CRC; sends them over
// one TLS 1.3 connection on 127.0.0.1; and decodes and verifies them (zstd,
// SHA-256) on one goroutine per CPU. There is no protocol, no request, no
// cache, no FUSE and no page cache: a mount that reads the same bytes does
// all of this work and more, so the rate here bounds its cold sequential
// read, and bench/run prints it as a floor row under the mount's.
//
//	pipefloor [-readers N] [-read-only] DATASTORE GROUP ARCHIVE [PATH]
//
// It reads the group's latest snapshot. PATH names a file inside a tree
// archive. Drop the page cache first for a cold figure. It prints one line:
//
//	wall_s=1.62 cpu_s=2.27 bytes=1073741824 chunks=6265 blob_bytes=365477437
//
// bytes is what a reader of the image or file gets (all-zero chunks are
// never fetched, by the mount either); wall_s and cpu_s cover the transfer
// only, not opening the snapshot and its indexes. With -read-only it only
// reads the blobs: the datastore's (the disk's) share of the floor.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
)

// defaultReaders is how many blobs are read from disk at a time. The
// server reads 16 per connection (server.srvBlobSlots); 64 read the bench
// image's 6265 blobs 10% faster here, and a floor takes the best.
const defaultReaders = 64

func main() {
	readers := flag.Int("readers", defaultReaders, "blobs read from disk at a time")
	readOnly := flag.Bool("read-only", false, "only read the blobs (and check their CRC): the disk's share")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: pipefloor [-readers N] [-read-only] DATASTORE GROUP ARCHIVE [PATH]")
		os.Exit(2)
	}
	flag.Parse()
	args := flag.Args()
	if len(args) != 3 && len(args) != 4 || *readers < 1 {
		flag.Usage()
	}
	path := ""
	if len(args) == 4 {
		path = args[3]
	}
	if err := run(args[0], args[1], args[2], path, *readers, *readOnly); err != nil {
		fmt.Fprintln(os.Stderr, "pipefloor:", err)
		os.Exit(1)
	}
}

func run(dir, group, archive, path string, readers int, readOnly bool) error {
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		return err
	}
	w, err := selectChunks(st, group, archive, path)
	if err != nil {
		return err
	}
	t0, c0 := time.Now(), cpuTime()
	move := transfer
	if readOnly {
		move = readBlobs
	}
	res, err := move(st, w.digests, readers, runtime.GOMAXPROCS(0))
	if err != nil {
		return err
	}
	wall, cpu := time.Since(t0), cpuTime()-c0
	fmt.Printf("wall_s=%.4f cpu_s=%.3f bytes=%d chunks=%d blob_bytes=%d\n",
		wall.Seconds(), cpu.Seconds(), w.bytes, len(w.digests), res.blobBytes)
	return nil
}

// cpuTime is the process's user plus system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// work is what one cold read fetches: the distinct chunks that are not
// all zeros, in stream order, and the bytes a reader gets.
type work struct {
	digests []catalog.Digest
	bytes   int64
}

// selectChunks finds the chunks of an image archive, or of the file at
// path in a tree archive, in the group's latest snapshot.
func selectChunks(st *store.Store, group, archive, path string) (work, error) {
	g, err := catalog.ParseGroup(group)
	if err != nil {
		return work{}, err
	}
	times, err := st.Snapshots(g)
	if err != nil {
		return work{}, err
	}
	snap, err := backup.OpenSnapshot(st, g, times[len(times)-1])
	if err != nil {
		return work{}, err
	}
	a, idx, err := snap.Indexes(archive)
	if err != nil {
		return work{}, err
	}
	if a.Kind == catalog.KindImage {
		if path != "" {
			return work{}, fmt.Errorf("archive %s is an image: no PATH inside it", archive)
		}
		return chunksIn(idx[0], 0, idx[0].Size()), nil
	}
	if path == "" {
		return work{}, fmt.Errorf("archive %s is a tree: name a file in it", archive)
	}
	t, err := snap.Tree(archive)
	if err != nil {
		return work{}, err
	}
	e, err := t.Catalog.LookupPath(path)
	if err != nil {
		return work{}, fmt.Errorf("%s in %s: %w", path, archive, err)
	}
	if e.Type != catalog.TypeFile {
		return work{}, fmt.Errorf("%s in %s is a %v, not a file", path, archive, e.Type)
	}
	return chunksIn(idx[1], e.PayloadOffset, e.Size), nil
}

// chunksIn lists the distinct non-zero chunks holding bytes [off, off+n)
// of the stream x.
func chunksIn(x catalog.Index, off, n uint64) work {
	w := work{bytes: int64(n)}
	if n == 0 {
		return w
	}
	seen := make(map[catalog.Digest]bool)
	for i := x.Find(off); i >= 0 && i < x.NumChunks(); i++ {
		start, end, d := x.Chunk(i)
		if start >= off+n {
			break
		}
		if seen[d] || catalog.IsZeroChunk(d, int(end-start)) {
			continue
		}
		seen[d] = true
		w.digests = append(w.digests, d)
	}
	return w
}
