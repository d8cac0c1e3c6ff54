package store

import (
	"context"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// TestGCKeepsOwnChunksOfCommitDuringGC: a backup stored a chunk itself
// long ago (older than the grace), and writes its index files and commits
// after a GC has marked (its index was not in .tmp yet, its snapshot not
// published) and before that GC sweeps. Commit touches the chunk under
// its lock, so the sweep keeps it: the published snapshot is complete.
func TestGCKeepsOwnChunksOfCommitDuringGC(t *testing.T) {
	s, c := newStore(t)
	w, err := s.Begin(vm100, epoch)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	early := chunkData("early", 2)
	for _, ch := range early {
		if _, err := w.PutChunk(catalog.Sum(ch), ch); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(2 * time.Hour)
	late := []byte("late: the writer is busy, not abandoned")
	if _, err := w.PutChunk(catalog.Sum(late), late); err != nil {
		t.Fatal(err)
	}
	s.hookBeforeSweep = func() {
		c.Advance(time.Minute)
		if err := w.Commit(stage(t, w, append(early, late), false)); err != nil {
			t.Fatalf("Commit between GC's mark and sweep: %v", err)
		}
	}
	if _, err := s.GC(context.Background(), GCOptions{Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for _, ch := range append(early, late) {
		if !has(s, ch) {
			t.Errorf("chunk %s of the published snapshot was swept", catalog.Sum(ch))
		}
	}
	if n, err := verifyProblems(s); err != nil || n > 0 {
		t.Fatalf("verify: %v, %d problems", err, n)
	}
}
