package integration

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/client"
)

// TestCraftedIndexCannotReadOtherGroup: a client that knows the digests
// of another group's data (here read off the victim's index file; they
// could be computed from a known file) publishes an image index of them
// into a group it may back up, uploading no chunk, to read the data back.
// The real server refuses the commit, for a backup-only token and for a
// read+backup token, with the same answer whether the datastore holds the
// chunks or not; nothing is published.
func TestCraftedIndexCannotReadOtherGroup(t *testing.T) {
	ds := t.TempDir()
	srv := StartServer(t, ds)
	secret := filepath.Join(t.TempDir(), "secret.img")
	writeRandom(t, secret, 3<<20, 11)
	victim := srv.Token("victim", "backup:vm/2")
	srv.MustClient(victim, "backup", "--time", "2026-11-20T10:00:00Z", srv.Repo("/vm/2"), "disk.img:"+secret)
	fidx, err := os.ReadFile(filepath.Join(ds, "vm", "2", "2026-11-20T10:00:00Z", "disk.img.fidx"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := catalog.DecodeIndex(fidx)
	if err != nil {
		t.Fatal(err)
	}

	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ name, rules string }{
		{"backup-only", "backup:vm/2 backup:vm/5"},
		{"read-and-backup", "backup:vm/2 read:vm/5 backup:vm/5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := srv.Token("attacker-"+tc.name, strings.Fields(tc.rules)...)
			var answers []string
			for _, present := range []bool{true, false} {
				at = at.Add(time.Minute)
				err := craftedCommit(t, srv, tok, at, idx, present)
				if err == nil {
					t.Fatalf("crafted index of %s chunks was published into vm/5", map[bool]string{true: "another group's", false: "absent"}[present])
				}
				if !errors.Is(err, client.ErrDenied) || strings.Contains(err.Error(), "missing") {
					t.Fatalf("crafted commit: %v; want DENIED, saying nothing of missing chunks", err)
				}
				answers = append(answers, normalizeAnswer(err.Error()))
			}
			if answers[0] != answers[1] {
				t.Fatalf("the answer tells a present chunk from an absent one:\n%s\n%s", answers[0], answers[1])
			}
		})
	}
	admin := srv.Token("admin", "read:*")
	if out := srv.MustClient(admin, "ls", srv.Repo("/")); strings.Contains(out, "vm/5") {
		t.Fatalf("vm/5 has a snapshot after the refused commits: %s", out)
	}
}

// craftedCommit begins a backup of vm/5 with tok and commits an image
// index of idx's digests (present) or of as many random ones, uploading
// no chunk.
func craftedCommit(t *testing.T, srv *Server, tok string, at time.Time, idx catalog.Index, present bool) error {
	t.Helper()
	c, err := client.Dial(context.Background(), client.ClientConfig{Addr: srv.Addr, Token: tok, Fingerprint: srv.Fingerprint, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g := catalog.Group{Type: "vm", ID: "5"}
	b, err := c.Begin(g, at)
	if err != nil {
		t.Fatal(err)
	}
	fi := idx.(*catalog.FixedIndex)
	w, err := catalog.NewFixedIndexWriter(fi.ChunkSize())
	if err != nil {
		t.Fatal(err)
	}
	for i := range idx.NumChunks() {
		s, e, d := idx.Chunk(i)
		if !present {
			rand.Read(d[:])
		}
		if err := w.Add(d, int(e-s)); err != nil {
			t.Fatal(err)
		}
	}
	data := w.Encode(at)
	if err := b.WriteFile("disk.img.fidx", data); err != nil {
		t.Fatal(err)
	}
	m := &catalog.Manifest{Version: catalog.ManifestVersion, Group: g.String(), Time: catalog.FormatTime(at), CreatedBy: "attacker",
		Archives: []catalog.Archive{{Name: "disk.img", Kind: catalog.KindImage, Size: idx.Size(),
			Files: []catalog.IndexFile{{Name: "disk.img.fidx", Size: int64(len(data)), SHA256: catalog.Sum(data)}}}}}
	return b.Commit(m)
}

var answerVaries = regexp.MustCompile(`[0-9a-f]{64}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)

// normalizeAnswer blanks what differs between two attempts by design
// (the first digest named, the snapshot time).
func normalizeAnswer(s string) string { return answerVaries.ReplaceAllString(s, "X") }

// TestNetworkBackupHeals: after verify marks chunks of the latest
// snapshot bad (one of an image, one of a tree's payload), the next
// network backup succeeds by uploading them again, verify is clean, and
// both snapshots restore exactly. After a truncated index file in the
// latest snapshot, the next network backup succeeds without a base (with
// a warning) and restores exactly.
func TestNetworkBackupHeals(t *testing.T) {
	src := t.TempDir()
	tree := filepath.Join(src, "tree")
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src", "fmt"), tree)
	img := filepath.Join(src, "disk.img")
	writeRandom(t, img, 6<<20, 5)
	for _, damage := range []string{"flipped chunks", "truncated index"} {
		t.Run(damage, func(t *testing.T) {
			ds := t.TempDir()
			srv := StartServer(t, ds)
			tok := srv.Token("admin", "read:*", "backup:*")
			t1, t2 := "2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z"
			backup := func(at string) Result {
				return srv.Client(tok, "backup", "--time", at, srv.Repo("/host/h"), "disk.img:"+img, "root.tree:"+tree)
			}
			if r := backup(t1); r.Code != 0 {
				t.Fatalf("first backup: %s", r.Stderr)
			}
			snap := filepath.Join(ds, "host", "h", t1)
			if damage == "flipped chunks" {
				flipChunkOf(t, ds, filepath.Join(snap, "disk.img.fidx"))
				flipChunkOf(t, ds, filepath.Join(snap, "root.tree"+catalog.PayloadIndexSuffix))
				if r := Run(t, "verify", "--datastore", ds); r.Code == 0 || strings.Count(r.Stdout, "BAD") < 2 {
					t.Fatalf("verify after the flips: exit %d\n%s", r.Code, r.Stdout)
				}
			} else {
				fidx := filepath.Join(snap, "disk.img.fidx")
				fi, err := os.Stat(fidx)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(fidx, fi.Size()/2); err != nil {
					t.Fatal(err)
				}
			}
			r := backup(t2)
			if r.Code != 0 {
				t.Fatalf("backup after %s: exit %d\n%s", damage, r.Code, r.Stderr)
			}
			if damage == "truncated index" && !strings.Contains(r.Stderr, "not usable") {
				t.Errorf("backup over a damaged base gave no warning:\n%s", r.Stderr)
			}
			if strings.Contains(r.Stderr, ds) {
				t.Errorf("the server told the client its datastore's path:\n%s", r.Stderr)
			}
			verify := []string{"verify", "--datastore", ds}
			if damage == "truncated index" {
				verify = append(verify, "/host/h/"+t2)
			}
			if r := Run(t, verify...); r.Code != 0 {
				t.Fatalf("verify after the healing backup: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			times := []string{t2}
			if damage == "flipped chunks" {
				times = append(times, t1) // healed too: its chunks are stored again
			}
			for _, at := range times {
				out := t.TempDir()
				srv.MustClient(tok, "restore", srv.Repo("/host/h/"+at+"/root.tree"), filepath.Join(out, "tree"))
				Sh(t, "diff", "-r", tree, filepath.Join(out, "tree"))
				srv.MustClient(tok, "restore", srv.Repo("/host/h/"+at+"/disk.img"), filepath.Join(out, "disk.img"))
				Sh(t, "cmp", img, filepath.Join(out, "disk.img"))
			}
		})
	}
}

// flipChunkOf flips a byte in the middle of the largest chunk that index
// file references.
func flipChunkOf(t *testing.T, ds, indexFile string) {
	t.Helper()
	b, err := os.ReadFile(indexFile)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := catalog.DecodeIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	var size int64
	for i := range idx.NumChunks() {
		_, _, d := idx.Chunk(i)
		h := d.String()
		p := filepath.Join(ds, ".chunks", h[:4], h)
		if fi, err := os.Stat(p); err == nil && fi.Size() > size {
			victim, size = p, fi.Size()
		}
	}
	if victim == "" {
		t.Fatalf("no chunk of %s is stored", indexFile)
	}
	flipMiddleByte(t, victim)
}

// flipMiddleByte flips one bit of the byte in the middle of a file.
func flipMiddleByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBackupsInTheSameSecond: backups of one group started at once (so
// in the same second), to the local datastore and over the network, all
// succeed, each as its own snapshot.
func TestBackupsInTheSameSecond(t *testing.T) {
	src := filepath.Join(GoRoot(t), "src", "fmt")
	for _, remote := range []bool{false, true} {
		t.Run(map[bool]string{false: "local", true: "network"}[remote], func(t *testing.T) {
			ds := NewDatastore(t)
			run := func(args ...string) Result {
				return Run(t, append(append(args[:1:1], "--datastore", ds), args[1:]...)...)
			}
			repo := "/host/a"
			if remote {
				srv := StartServer(t, ds)
				tok := srv.Token("admin", "read:*", "backup:*")
				run = func(args ...string) Result { return srv.Client(tok, args...) }
				repo = srv.Repo("/host/a")
			}
			const n = 3
			results := make(chan Result, n)
			for range n {
				go func() { results <- run("backup", repo, "fmt.tree:"+src) }()
			}
			for range n {
				if r := <-results; r.Code != 0 {
					t.Errorf("one of %d backups at once: exit %d: %s", n, r.Code, r.Stderr)
				}
			}
			r := run("ls", repo)
			if got := len(strings.Fields(r.Stdout)); r.Code != 0 || got != n {
				t.Fatalf("ls after %d backups: %d snapshots (exit %d)\n%s%s", n, got, r.Code, r.Stdout, r.Stderr)
			}
		})
	}
}
