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

// TestGCConcurrentBackups runs backups (some aborted, some forgetting older
// snapshots to make garbage) in goroutines while GC loops, on a clock that
// moves one second per reading so chunks age during the run. Every
// committed snapshot that was not forgotten must verify complete.
func TestGCConcurrentBackups(t *testing.T) {
	c := &clock{t: epoch, step: time.Second}
	s, err := Open(t.TempDir(), Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	pool := chunkData("pool", 30)
	const writers, rounds = 4, 12
	var (
		mu        sync.Mutex
		committed = map[string]bool{}
		stats     struct{ commits, retries, failed, gcs, removed int }
	)
	done := make(chan struct{})
	gcDone := make(chan error)
	go func() {
		for {
			select {
			case <-done:
				gcDone <- nil
				return
			default:
			}
			st, err := s.GC(context.Background(), GCOptions{Grace: 90 * time.Second})
			if err != nil {
				gcDone <- err
				return
			}
			time.Sleep(time.Millisecond) // let backups run between GCs
			mu.Lock()
			stats.gcs++
			stats.removed += st.ChunksRemoved
			mu.Unlock()
		}
	}()
	var wg sync.WaitGroup
	for wi := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(wi), 7))
			g := catalog.Group{Type: "ct", ID: fmt.Sprint(wi)}
			var mine []time.Time
			for round := range rounds {
				at := epoch.Add(time.Duration(round) * time.Hour)
				chunks := [][]byte{[]byte(fmt.Sprintf("unique %d %d", wi, round))}
				for range 4 {
					chunks = append(chunks, pool[r.IntN(len(pool))])
				}
				ok, retries, err := raceBackup(s, g, at, chunks, round%5 == 4)
				mu.Lock()
				stats.retries += retries
				switch {
				case err != nil:
					if stats.failed++; stats.failed <= 3 {
						t.Logf("backup %s %d failed: %v", g, round, err)
					}
				case ok:
					stats.commits++
					committed[g.String()+"@"+catalog.FormatTime(at)] = true
					mine = append(mine, at)
				}
				if len(mine) > 3 && r.IntN(2) == 0 {
					old := mine[0]
					mine = mine[1:]
					delete(committed, g.String()+"@"+catalog.FormatTime(old))
					mu.Unlock()
					if err := s.Forget(g, old); err != nil {
						t.Errorf("Forget: %v", err)
					}
					continue
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(done)
	if err := <-gcDone; err != nil {
		t.Fatalf("GC: %v", err)
	}
	t.Logf("commits %d, commit retries %d, failed backups %d, GC runs %d, chunks removed %d",
		stats.commits, stats.retries, stats.failed, stats.gcs, stats.removed)
	if stats.commits == 0 || stats.gcs == 0 {
		t.Fatal("nothing ran concurrently")
	}
	checkComplete(t, s, committed)
	c.Advance(time.Hour)
	if _, err := s.GC(context.Background(), GCOptions{Grace: 90 * time.Second}); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, s, committed)
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
			if !committed[g.String()+"@"+catalog.FormatTime(at)] {
				t.Errorf("unexpected snapshot %s/%s", g, catalog.FormatTime(at))
			}
		}
	}
	if seen != len(committed) {
		t.Errorf("%d snapshots listed, %d committed and kept", seen, len(committed))
	}
}
