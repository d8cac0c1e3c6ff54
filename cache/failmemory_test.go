package cache

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backupfs/backupfs/cache/cachetest"
	"github.com/backupfs/backupfs/catalog"
)

// TestFailedFetchRemembered: right after a fetch fails, asking for the
// same chunk again fails at once without calling the source (the kernel
// retries a failed read twice; each retry must not wait a whole timeout
// again); once the memory expires, the source is asked again.
func TestFailedFetchRemembered(t *testing.T) {
	src := cachetest.NewSource()
	var down atomic.Bool
	down.Store(true)
	boom := errors.New("server unreachable")
	src.Fail = func(d catalog.Digest) error {
		if down.Load() {
			return boom
		}
		return nil
	}
	want := cachetest.RandomBytes(rand.New(rand.NewPCG(3, 4)), 64<<10)
	d := src.Put(want)
	c := newTest(t, src, Options{})
	var clock atomic.Int64 // ns since the epoch, moved by hand
	clock.Store(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC).UnixNano())
	c.now = func() time.Time { return time.Unix(0, clock.Load()) }
	ctx := context.Background()
	if _, err := c.Chunk(ctx, d, len(want), true); !errors.Is(err, boom) {
		t.Fatalf("first fetch: %v, want the source's error", err)
	}
	if _, err := c.Chunk(ctx, d, len(want), true); !errors.Is(err, boom) || src.Count(d) != 1 {
		t.Fatalf("retry at once: %v after %d source calls; want the remembered error and 1 call", err, src.Count(d))
	}
	down.Store(false)
	clock.Add(int64(failMemory) - 1)
	if _, err := c.Chunk(ctx, d, len(want), true); !errors.Is(err, boom) || src.Count(d) != 1 {
		t.Fatalf("just before the memory expires: %v after %d source calls; want the remembered error", err, src.Count(d))
	}
	clock.Add(2)
	got, err := c.Chunk(ctx, d, len(want), true)
	if err != nil || len(got) != len(want) || src.Count(d) != 2 {
		t.Fatalf("after the memory expired: %d bytes, %v, %d source calls; want the chunk from a second call", len(got), err, src.Count(d))
	}
}
