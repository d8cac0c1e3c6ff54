package admin

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

var g = catalog.Group{Type: "vm", ID: "1"}

func newStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Init(filepath.Join(t.TempDir(), "ds"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func run(t *testing.T, ds store.Datastore, req Request) ([]string, error) {
	t.Helper()
	var lines []string
	err := Run(context.Background(), ds, req, func(l string) { lines = append(lines, l) })
	return lines, err
}

// TestVerifyProblems: a missing chunk is a BAD line and *Problems (exit
// 1 in the commands), a clean datastore neither.
func TestVerifyProblems(t *testing.T) {
	s := newStore(t)
	chunks := storetest.Chunks("admin", 2)
	storetest.Backup(t, s.Datastore(), g, storetest.Epoch, chunks)
	if lines, err := run(t, s.Datastore(), Request{Op: "verify"}); err != nil || !strings.Contains(strings.Join(lines, "\n"), ": 0 bad") {
		t.Fatalf("clean verify: %q, %v", lines, err)
	}
	hex := catalog.Sum(chunks[1]).String()
	if err := os.Remove(filepath.Join(s.Dir(), ".chunks", hex[:4], hex)); err != nil {
		t.Fatal(err)
	}
	lines, err := run(t, s.Datastore(), Request{Op: "verify"})
	var p *Problems
	if !errors.As(err, &p) || !strings.Contains(strings.Join(lines, "\n"), "BAD /vm/1/") {
		t.Fatalf("verify with a missing chunk: %q, %v; want a BAD line and *Problems", lines, err)
	}
}

// TestPruneProtect: protect, then prune keeps it and says why; forget
// refuses it; requests missing their arguments are ErrRequest.
func TestPruneProtect(t *testing.T) {
	s := newStore(t)
	ds := s.Datastore()
	for i := range 3 {
		storetest.Backup(t, ds, g, storetest.Epoch.Add(time.Duration(i)*time.Hour), storetest.Chunks("p", 1))
	}
	first := storetest.Epoch
	if _, err := run(t, ds, Request{Op: "protect", Group: &g, Time: &first}); err != nil {
		t.Fatal(err)
	}
	lines, err := run(t, ds, Request{Op: "prune", Group: &g, Keep: store.KeepPolicy{Last: 1}})
	out := strings.Join(lines, "\n")
	if err != nil || !strings.Contains(out, "(protected)") || !strings.Contains(out, "(keep-last)") || strings.Count(out, "remove ") != 1 {
		t.Fatalf("prune: %v\n%s", err, out)
	}
	if _, err := run(t, ds, Request{Op: "forget", Group: &g, Time: &first}); !errors.Is(err, store.ErrProtected) {
		t.Fatalf("forget of a protected snapshot: %v", err)
	}
	for _, req := range []Request{{Op: "forget"}, {Op: "prune", Group: &g}, {Op: "protect"}, {Op: "jobs"}, {Op: "format"}} {
		if _, err := run(t, ds, req); !errors.Is(err, ErrRequest) {
			t.Errorf("%+v: %v, want ErrRequest", req, err)
		}
	}
}

// slowVerify is a datastore whose Verify reports progress and then waits
// until the progress line is out.
type slowVerify struct {
	store.Datastore
	seen chan struct{}
}

func (s slowVerify) Verify(ctx context.Context, opt store.VerifyOptions, report func(store.VerifyProblem)) (store.VerifyStats, error) {
	for range 3 {
		opt.Progress()
	}
	select {
	case <-s.seen:
	case <-time.After(time.Minute):
	}
	return store.VerifyStats{Chunks: 3}, nil
}

// TestVerifyProgress: a verify that takes a while says how far it got.
func TestVerifyProgress(t *testing.T) {
	old := ProgressEvery
	ProgressEvery = time.Millisecond
	defer func() { ProgressEvery = old }()
	ds := slowVerify{Datastore: newStore(t).Datastore(), seen: make(chan struct{})}
	var lines []string
	once := false
	err := Run(context.Background(), ds, Request{Op: "verify"}, func(l string) {
		lines = append(lines, l)
		if strings.Contains(l, "3 chunks checked so far") && !once {
			once = true
			close(ds.seen)
		}
	})
	if err != nil || !once {
		t.Fatalf("no progress line: %q, %v", lines, err)
	}
}
