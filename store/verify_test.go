package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

type collected []VerifyProblem

func (c *collected) add(p VerifyProblem) { *c = append(*c, p) }

// count returns how many problems concern digest d and wrap want.
func (c collected) count(d catalog.Digest, want error) int {
	n := 0
	for _, p := range c {
		if p.Digest == d && errors.Is(p.Err, want) {
			n++
		}
	}
	return n
}

func TestVerifyFindsMarksAndHeals(t *testing.T) {
	s, c := newStore(t)
	ch := chunkData("v", 4) // A B C D
	a, b, cc, d := ch[0], ch[1], ch[2], ch[3]
	t1, t2 := epoch, epoch.Add(time.Hour)
	backup(t, s, vm100, t1, [][]byte{a, b, cc})
	backup(t, s, vm100, t2, [][]byte{a, d})
	blob, _ := os.ReadFile(s.chunkPath(catalog.Sum(a)))
	blob[len(blob)-3] ^= 0x01
	if err := os.WriteFile(s.chunkPath(catalog.Sum(a)), blob, filePerm); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.chunkPath(catalog.Sum(cc))); err != nil {
		t.Fatal(err)
	}

	for _, workers := range []int{1, 0} {
		var got collected
		st, err := s.Verify(context.Background(), VerifyOptions{Workers: workers}, got.add)
		if err != nil {
			t.Fatal(err)
		}
		// A is reported once per snapshot: corrupt the first time (then
		// renamed aside), missing the second.
		wantA := ErrCorrupt
		if workers == 0 {
			wantA = ErrNotFound
		}
		if got.count(catalog.Sum(a), wantA) != 2 || got.count(catalog.Sum(cc), ErrNotFound) != 1 || len(got) != 3 {
			t.Fatalf("workers %d: problems %+v", workers, got)
		}
		if st.Snapshots != 2 || st.Chunks != 6 || st.Bad != 3 {
			t.Errorf("workers %d: stats %+v", workers, st)
		}
		for _, p := range got {
			if p.Group != vm100 || p.File != "root.tree.payload.didx" {
				t.Errorf("problem %+v: wrong group or file", p)
			}
		}
	}
	if ok, _ := s.HasChunk(catalog.Sum(a)); ok {
		t.Fatal("bad chunk still reported present")
	}
	if _, err := os.Stat(s.chunkPath(catalog.Sum(a)) + badSuffix); err != nil {
		t.Fatalf("bad chunk not kept aside: %v", err)
	}

	// The next backup that has the data heals the store.
	for _, x := range [][]byte{a, cc} {
		if written, err := s.PutChunk(catalog.Sum(x), x); !written || err != nil {
			t.Fatalf("re-put: %v %v", written, err)
		}
	}
	var got collected
	if st, err := s.Verify(context.Background(), VerifyOptions{}, got.add); err != nil || len(got) != 0 || st.Bad != 0 {
		t.Fatalf("after healing: %+v %v %+v", st, err, got)
	}
	// GC drops the .bad file once the chunk is stored again.
	c.Advance(48 * time.Hour)
	if st, err := s.GC(context.Background(), GCOptions{}); err != nil || st.BadRemoved != 1 {
		t.Fatalf("GC: %+v %v", st, err)
	}
}

func TestVerifyIndexAndManifest(t *testing.T) {
	s, _ := newStore(t)
	t1, t2, t3 := epoch, epoch.Add(time.Hour), epoch.Add(2*time.Hour)
	for _, at := range []time.Time{t1, t2, t3} {
		backup(t, s, vm100, at, chunkData("i", 2))
	}
	idx := filepath.Join(s.snapPath(vm100, t2), "root.tree.meta.didx")
	b, _ := os.ReadFile(idx)
	b[len(b)-1] ^= 1
	_ = os.WriteFile(idx, b, filePerm)
	_ = os.WriteFile(filepath.Join(s.snapPath(vm100, t3), catalog.ManifestName), []byte("{"), filePerm)

	var got collected
	st, err := s.Verify(context.Background(), VerifyOptions{}, got.add)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || st.Bad != 2 || st.Snapshots != 3 {
		t.Fatalf("stats %+v problems %+v", st, got)
	}
	if p := got[0]; !p.Time.Equal(t2) || p.File != "root.tree.meta.didx" || !errors.Is(p.Err, ErrCorrupt) {
		t.Errorf("index problem %+v", p)
	}
	if p := got[1]; !p.Time.Equal(t3) || p.File != catalog.ManifestName || !errors.Is(p.Err, ErrCorrupt) {
		t.Errorf("manifest problem %+v", p)
	}

	// Selecting one snapshot checks only that one.
	got = nil
	st, err = s.Verify(context.Background(), VerifyOptions{Group: &vm100, Time: &t1}, got.add)
	if err != nil || st.Snapshots != 1 || len(got) != 0 {
		t.Fatalf("one snapshot: %+v %v %+v", st, err, got)
	}
	if _, err := s.Verify(context.Background(), VerifyOptions{Time: &t1}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("time without group: %v", err)
	}
	missing := epoch.Add(time.Minute)
	if _, err := s.Verify(context.Background(), VerifyOptions{Group: &vm100, Time: &missing}, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing snapshot: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Verify(ctx, VerifyOptions{}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
