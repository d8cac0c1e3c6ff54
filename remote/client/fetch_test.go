package client

import (
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

func raDigests(n int) []catalog.Digest {
	ds := make([]catalog.Digest, n)
	for i := range ds {
		ds[i] = catalog.Sum([]byte{byte(i), byte(i >> 8)})
	}
	return ds
}

// Queued readahead digests leave in batches of at most raBatch, oldest
// first; at most raSenders senders are started; a digest queued twice is
// one fetch.
func TestReadaheadBatches(t *testing.T) {
	var q raQueue
	ds := raDigests(2*raBatch + 5)
	starts := 0
	for _, d := range ds {
		if _, start := q.add(d); start {
			starts++
		}
	}
	if f1, _ := q.add(ds[0]); f1 != q.all[ds[0]] || len(q.queue) != len(ds) {
		t.Fatalf("a digest queued twice: %d queued", len(q.queue))
	}
	if starts != raSenders {
		t.Errorf("%d senders started, want %d", starts, raSenders)
	}
	var sizes []int
	next := 0
	for b := q.next(raBatch); b != nil; b = q.next(raBatch) {
		sizes = append(sizes, len(b))
		for _, f := range b {
			if f.d != ds[next] || !f.sent {
				t.Fatalf("batch out of order at %d", next)
			}
			next++
		}
	}
	if len(sizes) != 3 || sizes[0] != raBatch || sizes[1] != raBatch || sizes[2] != 5 {
		t.Errorf("batch sizes %v, want [%d %d 5]", sizes, raBatch, raBatch)
	}
	if q.senders != raSenders-1 {
		t.Errorf("senders %d after the queue ran dry, want %d", q.senders, raSenders-1)
	}
}

// claim takes a queued digest out of the queue (the demand fetch sends
// it); a digest already sent is only joined; answered forgets both.
func TestReadaheadClaim(t *testing.T) {
	var q raQueue
	ds := raDigests(4)
	for _, d := range ds[:3] {
		q.add(d)
	}
	sent := q.next(1)
	if f, queued := q.claim(ds[0]); f != sent[0] || queued {
		t.Errorf("claim of a sent digest: queued=%v", queued)
	}
	f, queued := q.claim(ds[2])
	if f == nil || !queued {
		t.Fatal("claim of a queued digest did not take it")
	}
	if b := q.next(raBatch); len(b) != 1 || b[0].d != ds[1] {
		t.Errorf("after the claim the queue holds %d", len(b))
	}
	if f, _ := q.claim(ds[3]); f != nil {
		t.Error("claim of a digest never queued")
	}
	q.answered(append(sent, f))
	if len(q.all) != 1 { // ds[1] is still sent, unanswered
		t.Errorf("%d fetches remembered, want 1", len(q.all))
	}
}
