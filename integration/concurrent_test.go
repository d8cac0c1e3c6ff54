package integration

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// concurrentRun is the shared state of TestConcurrentEverything.
type concurrentRun struct {
	t       *testing.T
	ds, dir string
	mu      sync.Mutex
	sources map[string]string // "/host/gN/TIME" -> its source directory
	iters   map[string]bool   // every iter.txt content ever backed up
	backups atomic.Int64
	reads   atomic.Int64
}

// makeSource writes a small tree: a file every snapshot shares, one that
// changes each time, and iter.txt naming the snapshot.
func (c *concurrentRun) makeSource(group, when string, i int) string {
	dir := filepath.Join(c.dir, "src", group, when)
	must := func(err error) {
		if err != nil {
			c.t.Error(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	shared := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for j := range shared {
		shared[j] = byte(r.Uint32())
	}
	own := make([]byte, 256<<10+i*1000)
	r = rand.New(rand.NewPCG(uint64(len(group)), uint64(i)))
	for j := range own {
		own[j] = byte(r.Uint32())
	}
	iter := fmt.Sprintf("%s %s iteration %d\n", group, when, i)
	must(os.WriteFile(filepath.Join(dir, "shared.bin"), shared, 0o644))
	must(os.WriteFile(filepath.Join(dir, "sub", "own.bin"), own, 0o644))
	must(os.WriteFile(filepath.Join(dir, "iter.txt"), []byte(iter), 0o644))
	c.mu.Lock()
	c.iters[iter] = true
	c.mu.Unlock()
	return dir
}

// backupLoop backs up changing data into group, iterations from first
// on, until stop closes (at least once).
func (c *concurrentRun) backupLoop(group string, first int, stop <-chan struct{}) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := first; ; i++ {
		when := base.Add(time.Duration(i) * time.Minute).Format("2006-01-02T15:04:05Z")
		src := c.makeSource(group, when, i)
		r := Run(c.t, "backup", "--datastore", c.ds, "--time", when, "/host/"+group, "d.tree:"+src)
		if r.Code != 0 {
			c.t.Errorf("backup %s/%s: exit %d: %s", group, when, r.Code, r.Stderr)
			return
		}
		c.mu.Lock()
		c.sources["/host/"+group+"/"+when] = src
		c.mu.Unlock()
		c.backups.Add(1)
		select {
		case <-stop:
			return
		default:
		}
	}
}

// loop runs f until stop closes.
func loop(stop <-chan struct{}, f func()) {
	for {
		select {
		case <-stop:
			return
		default:
			f()
		}
	}
}

// readLoop reads iter.txt and own.bin of each group's latest snapshot
// through the mount: a read may fail (the snapshot was pruned under it),
// but what it returns must be bytes some backup wrote.
func (c *concurrentRun) readLoop(mp string, stop <-chan struct{}) {
	loop(stop, func() {
		for _, g := range []string{"g0", "g1"} {
			b, err := os.ReadFile(filepath.Join(mp, g, "latest", "d", "iter.txt"))
			if err != nil {
				continue
			}
			c.mu.Lock()
			ok := c.iters[string(b)]
			c.mu.Unlock()
			if !ok {
				c.t.Errorf("the mount returned iter.txt %q that no backup wrote", b)
			}
			c.reads.Add(1)
		}
		time.Sleep(20 * time.Millisecond)
	})
}

// TestConcurrentEverything runs at once, until each has run several times
// (a count, not a time: a loaded machine just takes longer): backups of
// changing data into two groups, prune --keep-last 2, gc --grace 1m (0s races by design with
// a backup in another process: see the report), verify, and
// reads through a mount of the same datastore. Afterwards every kept
// snapshot verifies and restores byte-exact against its own source.
func TestConcurrentEverything(t *testing.T) {
	c := &concurrentRun{t: t, dir: t.TempDir(), sources: map[string]string{}, iters: map[string]bool{}}
	c.ds = filepath.Join(c.dir, "ds")
	InitDatastore(t, c.ds)
	c.backupLoop("g0", 0, closedChan()) // a first snapshot: the mount needs a group
	mp := filepath.Join(c.dir, "mnt")
	os.Mkdir(mp, 0o755)
	m := StartMount(t, nil, mp, "--datastore", c.ds, "/host")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var prunes, gcs, verifies atomic.Int64
	wg.Go(func() { c.backupLoop("g0", 1, stop) })
	wg.Go(func() { c.backupLoop("g1", 0, stop) })
	wg.Go(func() {
		loop(stop, func() {
			for _, g := range []string{"/host/g0", "/host/g1"} {
				if r := Run(t, "prune", "--datastore", c.ds, g, "--keep-last", "2"); r.Code != 0 && !strings.Contains(r.Stderr, "not found: group") {
					t.Errorf("prune %s: exit %d: %s", g, r.Code, r.Stderr)
				}
			}
			prunes.Add(1)
		})
	})
	wg.Go(func() {
		loop(stop, func() {
			if r := Run(t, "gc", "--datastore", c.ds, "--grace", "1m"); r.Code != 0 {
				t.Errorf("gc: exit %d: %s", r.Code, r.Stderr)
			}
			gcs.Add(1)
		})
	})
	wg.Go(func() {
		loop(stop, func() {
			// A snapshot pruned while verify reads it may be reported
			// missing; a corrupt chunk never may.
			if r := Run(t, "verify", "--datastore", c.ds); strings.Contains(r.Stdout+r.Stderr, "corrupt") {
				t.Errorf("verify during the run found corruption:\n%s%s", r.Stdout, r.Stderr)
			}
			verifies.Add(1)
		})
	})
	wg.Go(func() { c.readLoop(mp, stop) })
	enough := func() bool {
		return c.backups.Load() >= 12 && prunes.Load() >= 3 && gcs.Load() >= 3 && verifies.Load() >= 3 && c.reads.Load() >= 10
	}
	for end := time.Now().Add(10 * time.Minute); !enough() && !t.Failed() && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	m.Stop()
	t.Logf("%d backups, %d prune rounds, %d gc, %d verify, %d reads through the mount",
		c.backups.Load(), prunes.Load(), gcs.Load(), verifies.Load(), c.reads.Load())
	if !enough() {
		t.Fatal("too little ran concurrently within 10 min to mean anything (want 12 backups, 3 prune rounds, 3 gc, 3 verify, 10 reads)")
	}
	c.checkKept()
}

func closedChan() <-chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

// checkKept verifies the datastore and restores every kept snapshot,
// comparing it with its own source.
func (c *concurrentRun) checkKept() {
	t := c.t
	if out := MustRun(t, "verify", "--datastore", c.ds); !strings.Contains(out, " 0 bad") {
		t.Fatalf("verify after the run:\n%s", out)
	}
	kept := 0
	for _, g := range []string{"g0", "g1"} {
		for _, when := range strings.Fields(MustRun(t, "ls", "--datastore", c.ds, "/host/"+g)) {
			ref := "/host/" + g + "/" + when
			src, ok := c.sources[ref]
			if !ok {
				t.Errorf("kept snapshot %s was never backed up by this test", ref)
				continue
			}
			out := filepath.Join(t.TempDir(), "r")
			MustRun(t, "restore", "--datastore", c.ds, ref+"/d.tree", out)
			Sh(t, "diff", "-r", src, out)
			a, _ := os.ReadFile(filepath.Join(src, "sub", "own.bin"))
			b, _ := os.ReadFile(filepath.Join(out, "sub", "own.bin"))
			if !bytes.Equal(a, b) || len(a) == 0 {
				t.Errorf("%s: own.bin differs after restore", ref)
			}
			kept++
		}
	}
	if kept < 4 {
		t.Errorf("only %d snapshots kept; want at least 2 per group", kept)
	}
	t.Logf("%d kept snapshots verified and restored byte-exact", kept)
}
