package integration

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fileStates maps each regular file under root (as "/rel/path") to its
// size and mtime.
func fileStates(t *testing.T, root string) map[string][2]int64 {
	t.Helper()
	out := map[string][2]int64{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out["/"+rel] = [2]int64{info.Size(), info.ModTime().UnixNano()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInspectCommands runs snapshots, stats, diff and find against a real
// server: two backups of GOROOT/src with 1% changed between them. diff must
// list exactly the files that changed on disk (computed here from the two
// walks), find the versions of one file, and a token that may not read the
// group learns nothing.
func TestInspectCommands(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	Sh(t, "cp", "-a", filepath.Join(GoRoot(t), "src"), src)
	srv := StartServer(t, filepath.Join(t.TempDir(), "ds"))
	tok := srv.Token("admin", "read:*", "backup:*")
	const t1, t2 = "2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z"
	srv.MustClient(tok, "backup", "--time", t1, srv.Repo("/host/goroot"), "src.tree:"+src)
	before := fileStates(t, src)
	changeOnePercent(t, src)
	after := fileStates(t, src)
	srv.MustClient(tok, "backup", "--time", t2, srv.Repo("/host/goroot"), "src.tree:"+src)

	var want []string
	for p, a := range after {
		if b, ok := before[p]; !ok {
			want = append(want, "added "+p)
		} else if a != b {
			want = append(want, "modified "+p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			want = append(want, "removed "+p)
		}
	}
	slices.Sort(want)

	var d struct {
		Changes []struct{ Path, Change, Type string }
		Summary struct{ Added, Removed, Modified int }
	}
	decode(t, srv.MustClient(tok, "diff", "--json", srv.Repo("/host/goroot/"+t1+"/src.tree"), t2), &d)
	var got []string
	for _, c := range d.Changes {
		if c.Type != "file" {
			t.Errorf("diff lists a %s: %+v (no directory changed but by its files)", c.Type, c)
		}
		got = append(got, c.Change+" "+c.Path)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) || len(want) < 10 {
		t.Fatalf("diff lists %d changes, the disk %d:\n%s", len(got), len(want), DiffLines(want, got, 20))
	}
	text := srv.MustClient(tok, "diff", srv.Repo("/host/goroot/"+t1), "latest")
	if !strings.Contains(text, "+    /src.tree/fmt/added.go\n") || !strings.HasSuffix(text, " modified\n") {
		t.Fatalf("diff of whole snapshots, text:\n%s", text)
	}

	var versions []struct{ Time, Path, Status string }
	decode(t, srv.MustClient(tok, "find", "--json", srv.Repo("/host/goroot"), "/fmt/added.go"), &versions)
	if len(versions) != 1 || versions[0].Time != t2 || versions[0].Status != "new" {
		t.Fatalf("find /fmt/added.go: %+v, want one new version at %s", versions, t2)
	}
	decode(t, srv.MustClient(tok, "find", "--json", "--all", srv.Repo("/"), "fmt/print.go"), &versions)
	if len(versions) != 2 || versions[0].Path != "/fmt/print.go" || versions[1].Status != "same" {
		t.Fatalf("find --all fmt/print.go: %+v, want /fmt/print.go twice, the second the same", versions)
	}

	var snaps []struct {
		Time     string
		Size     uint64
		NewBytes uint64 `json:"new_bytes"`
		Archives []string
	}
	decode(t, srv.MustClient(tok, "snapshots", "--json", srv.Repo("/host/goroot")), &snaps)
	if len(snaps) != 2 || snaps[0].Time != t1 || snaps[1].Time != t2 || snaps[0].Archives[0] != "src.tree" {
		t.Fatalf("snapshots: %+v", snaps)
	}
	if snaps[1].NewBytes*10 > snaps[0].NewBytes || snaps[0].NewBytes < snaps[0].Size/2 {
		t.Fatalf("snapshots: new bytes %d then %d of %d: the second should add under a tenth", snaps[0].NewBytes, snaps[1].NewBytes, snaps[0].Size)
	}
	var tot struct {
		Snapshots int
		Dedup     float64 `json:"dedup_factor"`
	}
	decode(t, srv.MustClient(tok, "stats", "--json", srv.Repo("/")), &tot)
	if tot.Snapshots != 2 || tot.Dedup < 1.8 {
		t.Fatalf("stats: %+v, want 2 snapshots sharing most chunks (factor near 2)", tot)
	}

	// A token that may read another group only sees nothing of this one.
	other := srv.Token("other", "read:host/other")
	if r := srv.Client(other, "find", srv.Repo("/"), "print.go"); r.Code != 0 || strings.Contains(r.Stdout, "print.go") {
		t.Fatalf("find with a token for another group: exit %d, %q", r.Code, r.Stdout)
	}
	if r := srv.Client(other, "snapshots", srv.Repo("/host/goroot")); r.Code == 0 {
		t.Fatalf("snapshots of a group the token may not read: exit 0, %q", r.Stdout)
	}
	// Clumsy input: a bad pattern, a diff of a typo'd time.
	if r := srv.Client(tok, "find", srv.Repo("/"), "[oops"); r.Code != 1 || !strings.Contains(r.Stderr, "bad pattern") {
		t.Fatalf("find [oops: exit %d, %q", r.Code, r.Stderr)
	}
	if r := srv.Client(tok, "diff", srv.Repo("/host/goroot/"+t1), "2026-11-21T10:00:01Z"); r.Code != 1 || r.Stderr == "" {
		t.Fatalf("diff against a missing snapshot: exit %d, %q", r.Code, r.Stderr)
	}
	if err := os.RemoveAll(src); err != nil {
		t.Fatal(err)
	}
}

func decode(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
}
