package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// raceStats counts what happened during TestGCConcurrentBackups.
type raceStats struct {
	mu                                     sync.Mutex
	committed                              map[string]bool // "group@time" committed and not forgotten
	commits, retries, failed, gcs, removed int
}

func snapKey(g catalog.Group, at time.Time) string { return g.String() + "@" + catalog.FormatTime(at) }

// TestGCConcurrentBackups runs backups (some aborted, some forgetting older
// snapshots to make garbage) in goroutines while GC loops, on a clock that
// moves one second per reading so chunks age during the run. Every
// committed snapshot that was not forgotten must verify complete.
func TestGCConcurrentBackups(t *testing.T) {
	c := &clock{t: epoch, step: time.Second}
	s, err := Init(t.TempDir(), Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	rs := &raceStats{committed: map[string]bool{}}
	done := make(chan struct{})
	gcErr := make(chan error)
	go func() { gcErr <- gcLoop(s, rs, done) }()
	pool := chunkData("pool", 30)
	var wg sync.WaitGroup
	for wi := range 4 {
		wg.Go(func() { raceWriter(t, s, rs, wi, pool) })
	}
	wg.Wait()
	close(done)
	if err := <-gcErr; err != nil {
		t.Fatalf("GC: %v", err)
	}
	t.Logf("commits %d, commit retries %d, failed backups %d, GC runs %d, chunks removed %d",
		rs.commits, rs.retries, rs.failed, rs.gcs, rs.removed)
	if rs.commits == 0 || rs.gcs == 0 {
		t.Fatal("nothing ran concurrently")
	}
	checkComplete(t, s, rs.committed)
	c.Advance(time.Hour)
	if _, err := s.GC(context.Background(), GCOptions{Grace: 90 * time.Second}); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, s, rs.committed)
}

// gcLoop runs GC until done is closed.
func gcLoop(s *Store, rs *raceStats, done chan struct{}) error {
	for {
		select {
		case <-done:
			return nil
		default:
		}
		st, err := s.GC(context.Background(), GCOptions{Grace: 90 * time.Second})
		if err != nil {
			return err
		}
		time.Sleep(time.Millisecond) // let backups run between GCs
		rs.mu.Lock()
		rs.gcs++
		rs.removed += st.ChunksRemoved
		rs.mu.Unlock()
	}
}

// raceWriter makes a dozen backups of its own group from a shared chunk
// pool, aborting every fifth and sometimes forgetting its oldest.
func raceWriter(t *testing.T, s *Store, rs *raceStats, wi int, pool [][]byte) {
	r := rand.New(rand.NewPCG(uint64(wi), 7))
	g := catalog.Group{Type: "ct", ID: fmt.Sprint(wi)}
	var mine []time.Time
	for round := range 12 {
		at := epoch.Add(time.Duration(round) * time.Hour)
		chunks := [][]byte{[]byte(fmt.Sprintf("unique %d %d", wi, round))}
		for range 4 {
			chunks = append(chunks, pool[r.IntN(len(pool))])
		}
		ok, retries, err := raceBackup(s, g, at, chunks, round%5 == 4)
		rs.mu.Lock()
		rs.retries += retries
		switch {
		case err != nil:
			if rs.failed++; rs.failed <= 3 {
				t.Logf("backup %s %d failed: %v", g, round, err)
			}
		case ok:
			rs.commits++
			rs.committed[snapKey(g, at)] = true
			mine = append(mine, at)
		}
		var forget *time.Time
		if len(mine) > 3 && r.IntN(2) == 0 {
			forget, mine = &mine[0], mine[1:]
			delete(rs.committed, snapKey(g, *forget))
		}
		rs.mu.Unlock()
		if forget != nil {
			if err := s.Forget(g, *forget); err != nil {
				t.Errorf("Forget: %v", err)
			}
		}
	}
}

// raceBackup makes one backup, re-uploading chunks a GC removed under it
// (Commit's MissingChunksError) up to three times; abort instead of
// committing if asked. Errors from a writer GC reaped count as failures.
func raceBackup(s *Store, g catalog.Group, at time.Time, chunks [][]byte, abort bool) (committed bool, retries int, err error) {
	w, err := s.Begin(g, at)
	if err != nil {
		return false, 0, err
	}
	defer w.Abort()
	m, err := stageErr(w, chunks, true)
	if err != nil || abort {
		return false, 0, err
	}
	for ; retries < 3; retries++ {
		var missing *MissingChunksError
		err = w.Commit(m)
		if !errors.As(err, &missing) {
			return err == nil, retries, err
		}
		if _, err := stageErr(w, chunks, true); err != nil {
			return false, retries, err
		}
	}
	return false, retries, err
}

func checkComplete(t *testing.T, s *Store, committed map[string]bool) {
	t.Helper()
	seen := 0
	_, err := s.Verify(context.Background(), VerifyOptions{}, func(p VerifyProblem) {
		t.Errorf("problem in %s/%s: %s %s: %v", p.Group, catalog.FormatTime(p.Time), p.File, p.Digest, p.Err)
	})
	if err != nil {
		t.Fatal(err)
	}
	groups, _ := s.Groups()
	for _, g := range groups {
		times, _ := s.Snapshots(g)
		for _, at := range times {
			seen++
			if !committed[snapKey(g, at)] {
				t.Errorf("unexpected snapshot %s/%s", g, catalog.FormatTime(at))
			}
		}
	}
	if seen != len(committed) {
		t.Errorf("%d snapshots listed, %d committed and kept", seen, len(committed))
	}
}
