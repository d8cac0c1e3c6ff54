package cache

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/backupfs/backupfs/cache/cachetest"
)

func BenchmarkCacheHit(b *testing.B) {
	src := cachetest.NewSource()
	data := cachetest.RandomBytes(rand.New(rand.NewPCG(1, 1)), 1<<20)
	d := src.Put(data)
	c := newTest(b, src, Options{})
	ctx := context.Background()
	if _, err := c.Chunk(ctx, d, len(data), true); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Chunk(ctx, d, len(data), true); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkStreamReadSequential reads a 16 MiB stream of 1 MiB chunks cold,
// 128 KiB at a time (the kernel's FUSE read size), from a Source that
// takes a fixed latency per chunk (a network round trip), with and without
// readahead.
func BenchmarkStreamReadSequential(b *testing.B) {
	const size = 16 << 20
	src := cachetest.NewSource()
	src.Delay = 2 * time.Millisecond
	idx, err := src.FixedStream(cachetest.RandomBytes(rand.New(rand.NewPCG(2, 2)), size), 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name      string
		readahead int64
	}{{"readahead", 0}, {"no-readahead", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(size)
			p := make([]byte, 128<<10)
			for b.Loop() {
				c, err := New(src, Options{Readahead: bc.readahead})
				if err != nil {
					b.Fatal(err)
				}
				s, rs := c.Stream(idx, "bench"), new(ReadState)
				for off := int64(0); off < size; off += int64(len(p)) {
					if _, err := s.ReadAt(context.Background(), p, off, rs); err != nil {
						b.Fatal(err)
					}
				}
				c.Close()
			}
		})
	}
}

// BenchmarkStreamReadHit is a 128 KiB read served from memory (lookup and
// copy).
func BenchmarkStreamReadHit(b *testing.B) {
	src := cachetest.NewSource()
	idx, err := src.FixedStream(cachetest.RandomBytes(rand.New(rand.NewPCG(3, 3)), 4<<20), 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	s := newTest(b, src, Options{Readahead: -1}).Stream(idx, "hit")
	p := make([]byte, 128<<10)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	var off int64
	for b.Loop() {
		if _, err := s.ReadAt(context.Background(), p, off, nil); err != nil {
			b.Fatal(err)
		}
		off = (off + int64(len(p))) % s.Size()
	}
}
