package server_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/backupfs/backupfs/backup"
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/remotetest"
	"github.com/backupfs/backupfs/remote/wire"
)

// payloadDigests returns the distinct payload chunk digests of g's tree.
func payloadDigests(t *testing.T, srv *remotetest.Server, g catalog.Group) []catalog.Digest {
	t.Helper()
	snap, err := backup.OpenSnapshot(srv.Store, g, t0)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := snap.Tree("root.tree")
	if err != nil {
		t.Fatal(err)
	}
	idx := tree.Payload.Index()
	var ds []catalog.Digest
	for i := range idx.NumChunks() {
		_, _, d := idx.Chunk(i)
		if !slices.Contains(ds, d) {
			ds = append(ds, d)
		}
	}
	return ds
}

// chunkMtimes returns the mtimes of the chunk files of ds.
func chunkMtimes(t *testing.T, srv *remotetest.Server, ds []catalog.Digest) []time.Time {
	t.Helper()
	out := make([]time.Time, len(ds))
	for i, d := range ds {
		h := d.String()
		fi, err := os.Stat(filepath.Join(srv.Dir, ".chunks", h[:4], h))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = fi.ModTime()
	}
	return out
}

// TestDigestQueryLearnsNothing: the digest query answers yes only for
// chunks of groups the token may read. A token that may read host/a gets
// for host/b's chunks exactly the answer (the same KNOWN_CHUNKS bytes) it
// gets for digests that exist nowhere, and the server does not even touch
// host/b's chunk files to answer; host/a's chunks are answered yes, so the
// no is not the query failing.
func TestDigestQueryLearnsNothing(t *testing.T) {
	srv := remotetest.Start(t, t.TempDir())
	admin := srv.Dial(srv.Token("admin", "read:*", "backup:*"))
	ga, gb := catalog.Group{Type: "host", ID: "a"}, catalog.Group{Type: "host", ID: "b"}
	for g, text := range map[catalog.Group]string{ga: "only in a %d ", gb: "secret of b %d "} {
		dir := t.TempDir()
		var data []byte
		for i := range 60000 {
			data = fmt.Appendf(data, text, i)
		}
		remotetest.WriteFiles(t, dir, map[string][]byte{"f": data})
		remotetest.BackupTree(t, admin, g, t0, dir)
	}
	ofA, ofB := payloadDigests(t, srv, ga), payloadDigests(t, srv, gb)
	absent := make([]catalog.Digest, len(ofB))
	for i := range absent {
		absent[i] = catalog.Sum(fmt.Appendf(nil, "absent %d", i))
	}
	before := chunkMtimes(t, srv, ofB)

	tenant := srv.Dial(srv.Token("tenant", "read:host/a", "backup:host/c"))
	b, err := tenant.Begin(catalog.Group{Type: "host", ID: "c"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Abort()
	ask := func(ds []catalog.Digest) []byte {
		t.Helper()
		known, err := b.Known(ds)
		if err != nil {
			t.Fatal(err)
		}
		return wire.KnownChunks{Known: known}.Append(nil)
	}
	if yes := ask(ofA); !bytes.Equal(yes, wire.KnownChunks{Known: trues(len(ofA))}.Append(nil)) {
		t.Fatalf("chunks of the readable group: answer %x, want all known", yes)
	}
	other, none := ask(ofB), ask(absent)
	if !bytes.Equal(other, none) || !bytes.Equal(none, wire.KnownChunks{Known: make([]bool, len(absent))}.Append(nil)) {
		t.Fatalf("another group's chunks answered %x, absent digests %x: want the same, all unknown", other, none)
	}
	if after := chunkMtimes(t, srv, ofB); !slices.Equal(before, after) {
		t.Fatal("answering for another group's chunks touched their files")
	}
}

func trues(n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = true
	}
	return out
}
