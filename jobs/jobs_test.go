package jobs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/store"
	"github.com/backupfs/backupfs/store/storetest"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
	}{
		{"gc every 24h", true},
		{"gc every 1h grace=0s", true},
		{"verify every 168h", true},
		{"verify vm/* every 24h", true},
		{"prune vm/* every 24h keep-daily=7 keep-weekly=4", true},
		{"prune every 1h keep-within=72h", true},
		{"prune vm/* every 24h", false},         // no keep: would remove everything
		{"gc vm/* every 24h", false},            // gc is datastore-wide
		{"gc every 10ms", false},                // too short
		{"gc every soon", false},                // not a duration
		{"format every 1h", false},              // unknown op
		{"verify [ every 1h", false},            // bad pattern
		{"prune every 1h keep-daily=-1", false}, // bad count
		{"verify every 1h keep-daily=3", false}, // not verify's
		{"gc every 1h grace", false},            // not key=value
		{"gc", false},
	} {
		j, err := Parse(tc.line)
		if (err == nil) != tc.ok {
			t.Errorf("Parse(%q) = %+v, %v; want ok=%v", tc.line, j, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrSpec) {
			t.Errorf("Parse(%q): %v does not wrap ErrSpec", tc.line, err)
		}
	}
	j, _ := Parse("prune vm/* every 24h keep-daily=7 keep-within=48h")
	if j.Pattern != "vm/*" || j.Every != 24*time.Hour || j.Req.Keep.Daily != 7 || j.Req.Keep.Within != 48*time.Hour {
		t.Fatalf("parsed %+v", j)
	}
}

// TestSchedulerRuns: jobs run on their period against a real datastore,
// and each run's result and failures are kept for `backupfs jobs`.
func TestSchedulerRuns(t *testing.T) {
	st, err := store.Init(filepath.Join(t.TempDir(), "ds"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ds := st.Datastore()
	g := catalog.Group{Type: "vm", ID: "1"}
	chunks := storetest.Chunks("jobs", 2)
	storetest.Backup(t, ds, g, storetest.Epoch, chunks)
	var specs []Job
	for _, l := range []string{"gc every 1s", "verify vm/* every 1s"} {
		j, err := Parse(l)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, j)
	}
	s := New(ds, nil, specs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitRuns(t, s, 2)
	for _, line := range s.Lines() {
		if !strings.Contains(line, " ok: ") {
			t.Fatalf("a job did not run clean: %s", line)
		}
	}
	// A chunk goes missing: the next verify run fails and says so.
	hex := catalog.Sum(chunks[0]).String()
	if err := os.Remove(filepath.Join(st.Dir(), ".chunks", hex[:4], hex)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.Failures() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no failed verify run recorded:\n%s", strings.Join(s.Lines(), "\n"))
		}
		<-s.runs
	}
	if !strings.Contains(strings.Join(s.Lines(), "\n"), "FAILED") {
		t.Fatalf("the failure is not in the listing:\n%s", strings.Join(s.Lines(), "\n"))
	}
}

// TestSchedulerNoGroup: a verify job whose pattern matches no group (yet)
// runs clean and says so, rather than showing an empty result that reads
// like a verify of something.
func TestSchedulerNoGroup(t *testing.T) {
	st, err := store.Init(filepath.Join(t.TempDir(), "ds"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	j, err := Parse("verify vm/* every 1s")
	if err != nil {
		t.Fatal(err)
	}
	s := New(st.Datastore(), nil, []Job{j})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitRuns(t, s, 1)
	if line := s.Lines()[0]; !strings.Contains(line, " ok: no group matches vm/*") {
		t.Fatalf("verify of no group: %s", line)
	}
}

// waitRuns waits until every job ran at least once (each run is reported
// on s.runs).
func waitRuns(t *testing.T, s *Scheduler, jobs int) {
	t.Helper()
	seen := map[int]bool{}
	timeout := time.After(30 * time.Second)
	for len(seen) < jobs {
		select {
		case i := <-s.runs:
			seen[i] = true
		case <-timeout:
			t.Fatalf("jobs did not run: %v", s.Lines())
		}
	}
}
