package store

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backupfs/backupfs/catalog"
)

// A Commit with a base looks up (touches) only the chunks its base does
// not hold; without one it touches every chunk but those it stored.
func TestBaseSpareLookups(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setBase bool
	}{{"with base", true}, {"without base", false}} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newStore(t)
			old := chunkData("old", 3)
			backup(t, s, vm100, epoch, old)
			before := mtime(t, s, old[0])
			clk.Advance(time.Hour)
			w, err := s.Begin(vm100, epoch.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if tc.setBase {
				if err := w.SetBase(epoch); err != nil {
					t.Fatal(err)
				}
			}
			fresh := chunkData("new", 1)
			if _, err := w.PutChunk(catalog.Sum(fresh[0]), fresh[0]); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Hour)
			if err := w.Commit(stage(t, w, append(old, fresh...), false)); err != nil {
				t.Fatal(err)
			}
			touched := mtime(t, s, old[0]).After(before)
			if touched == tc.setBase {
				t.Errorf("reused chunk touched = %v, want %v", touched, !tc.setBase)
			}
			// The writer's own chunk is touched too, so a GC between its
			// mark and sweep keeps it (touchOwn, session.go).
			if got := mtime(t, s, fresh[0]); !got.Equal(epoch.Add(2 * time.Hour)) {
				t.Errorf("new chunk's mtime %v, want the Commit's %v", got, epoch.Add(2*time.Hour))
			}
		})
	}
}

// A base cannot be forgotten while its writer lives, and can be after.
func TestBaseHeldAgainstForget(t *testing.T) {
	for _, end := range []string{"commit", "abort"} {
		t.Run(end, func(t *testing.T) {
			s, _ := newStore(t)
			old := chunkData("old", 2)
			backup(t, s, vm100, epoch, old)
			backup(t, s, vm100, epoch.Add(time.Minute), old) // so that Prune would remove the base
			w, err := s.Begin(vm100, epoch.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if err := w.SetBase(epoch); err != nil {
				t.Fatal(err)
			}
			if err := s.Forget(vm100, epoch); !errors.Is(err, ErrBusy) {
				t.Fatalf("Forget of a held base: %v, want ErrBusy", err)
			}
			if _, _, err := s.Prune(vm100, KeepPolicy{Last: 1}, false); !errors.Is(err, ErrBusy) {
				t.Fatalf("Prune of a held base: %v, want ErrBusy", err)
			}
			if end == "commit" {
				err = w.Commit(stage(t, w, old, false))
			} else {
				err = w.Abort()
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Forget(vm100, epoch); err != nil {
				t.Fatalf("Forget after the writer ended: %v", err)
			}
		})
	}
}

// A chunk of the base that Verify renamed aside is looked up like any
// other, so the Commit reports it missing instead of publishing a
// reference to it.
func TestBaseBadChunkChecked(t *testing.T) {
	s, _ := newStore(t)
	old := chunkData("old", 3)
	backup(t, s, vm100, epoch, old)
	w, err := s.Begin(vm100, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetBase(epoch); err != nil {
		t.Fatal(err)
	}
	bad := catalog.Sum(old[1])
	blob, err := os.ReadFile(s.chunkPath(bad))
	if err != nil {
		t.Fatal(err)
	}
	blob[len(blob)-1] ^= 1
	if err := os.WriteFile(s.chunkPath(bad), blob, filePerm); err != nil {
		t.Fatal(err)
	}
	if renamed, err := s.markBad(bad); err != nil || !renamed {
		t.Fatalf("markBad: %v, %v", renamed, err)
	}
	err = w.Commit(stage(t, w, old, false))
	var miss *MissingChunksError
	if !errors.As(err, &miss) || miss.Count != 1 || miss.Digests[0] != bad {
		t.Fatalf("Commit with a bad base chunk: %v, want it missing", err)
	}
}

// Without a base (none at that time, or one being forgotten), Commit
// checks every chunk: a chunk file deleted by hand is reported.
func TestSetBaseFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		base time.Time
		hold bool // another process holds the base's exclusive lock (a Forget)
		want error
	}{
		{"no such snapshot", epoch.Add(time.Minute), false, ErrNotFound},
		{"being forgotten", epoch, true, ErrBusy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			old := chunkData("old", 3)
			backup(t, s, vm100, epoch, old)
			if tc.hold {
				f, err := os.Open(s.snapPath(vm100, epoch))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
					t.Fatal(err)
				}
			}
			w, err := s.Begin(vm100, epoch.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if err := w.SetBase(tc.base); !errors.Is(err, tc.want) {
				t.Fatalf("SetBase: %v, want %v", err, tc.want)
			}
			gone := catalog.Sum(old[2])
			if err := os.Remove(s.chunkPath(gone)); err != nil {
				t.Fatal(err)
			}
			err = w.Commit(stage(t, w, old, false))
			var miss *MissingChunksError
			if !errors.As(err, &miss) || miss.Digests[0] != gone {
				t.Fatalf("Commit: %v, want %s missing", err, gone)
			}
		})
	}
}

// SetBase on a snapshot whose index does not match its manifest fails.
func TestSetBaseCorruptIndex(t *testing.T) {
	s, _ := newStore(t)
	backup(t, s, vm100, epoch, chunkData("old", 2))
	p := s.snapPath(vm100, epoch) + "/root.tree.payload.didx"
	if err := os.WriteFile(p, []byte("not an index"), filePerm); err != nil {
		t.Fatal(err)
	}
	w, err := s.Begin(vm100, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetBase(epoch); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("SetBase: %v, want ErrCorrupt", err)
	}
}

func TestParseBadList(t *testing.T) {
	a, b := catalog.Sum([]byte("a")), catalog.Sum([]byte("b"))
	in := a.String() + "\n" + "torn" + b.String()[:10] + "\n\n" + strings.ToUpper(b.String()) + "\n" + b.String()
	got := parseBadList([]byte(in))
	if len(got) != 2 {
		t.Fatalf("%d digests, want 2: %v", len(got), got)
	}
	for _, d := range []catalog.Digest{a, b} {
		if _, ok := got[d]; !ok {
			t.Errorf("%s missing", d)
		}
	}
}

func FuzzParseBadList(f *testing.F) {
	f.Add([]byte(catalog.Sum([]byte("a")).String() + "\nxyz\n"))
	f.Add([]byte(strings.Repeat("0", 64)))
	f.Fuzz(func(t *testing.T, b []byte) {
		for d := range parseBadList(b) {
			if !strings.Contains(strings.ToLower(string(b)), d.String()) {
				t.Fatalf("digest %s is not in the input", d)
			}
		}
	})
}
