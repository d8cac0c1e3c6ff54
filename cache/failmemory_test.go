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
	old := failMemory
	failMemory = 200 * time.Millisecond
	defer func() { failMemory = old }()
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
	ctx := context.Background()
	if _, err := c.Chunk(ctx, d, len(want), true); !errors.Is(err, boom) {
		t.Fatalf("first fetch: %v, want the source's error", err)
	}
	if _, err := c.Chunk(ctx, d, len(want), true); !errors.Is(err, boom) || src.Count(d) != 1 {
		t.Fatalf("retry at once: %v after %d source calls; want the remembered error and 1 call", err, src.Count(d))
	}
	down.Store(false)
	time.Sleep(250 * time.Millisecond)
	got, err := c.Chunk(ctx, d, len(want), true)
	if err != nil || len(got) != len(want) || src.Count(d) != 2 {
		t.Fatalf("after the memory expired: %d bytes, %v, %d source calls; want the chunk from a second call", len(got), err, src.Count(d))
	}
}
