package integration

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// publishedRE reads the server's own count of what a backup uploaded.
var publishedRE = regexp.MustCompile(`msg="backup published" .*snapshot=(\S+) uploaded_chunks=(\d+) uploaded_bytes=(\d+) known_by_query=(\d+)`)

// uploadedFor returns the chunk blob bytes the server received for the
// published snapshot of group (type/id), from its log.
func uploadedFor(t *testing.T, srv *Server, group string) (bytes, known int64) {
	t.Helper()
	for _, m := range publishedRE.FindAllStringSubmatch(srv.Log(), -1) {
		if len(m[1]) > len(group) && m[1][:len(group)+1] == group+"/" {
			bytes, _ = strconv.ParseInt(m[3], 10, 64)
			known, _ = strconv.ParseInt(m[4], 10, 64)
			return bytes, known
		}
	}
	t.Fatalf("no \"backup published\" line for %s in the server log:\n%s", group, srv.Log())
	return 0, 0
}

// TestCrossGroupDedup backs up a 128 MiB image (random, incompressible)
// into one group, writes 4 KiB into 1% of its 128 KiB chunks, and backs
// it up over the network into a second group: the server counts under 3%
// of the image's bytes uploaded, and the restore is the changed image.
// A token that may not read the first group learns nothing of it through
// the digest query: its backup of the same image uploads every chunk.
func TestCrossGroupDedup(t *testing.T) {
	dir := t.TempDir()
	const cs, n = 128 << 10, 1024
	img := make([]byte, cs*n)
	rand.Read(img)
	path := filepath.Join(dir, "disk.img")
	must(t, os.WriteFile(path, img, 0o644))
	srv := StartServer(t, filepath.Join(dir, "ds"))
	admin := srv.Token("admin", "read:*", "backup:*")
	srv.MustClient(admin, "backup", srv.Repo("/vm/100"), "disk.img:"+path)
	if up, _ := uploadedFor(t, srv, "vm/100"); up < int64(len(img)) {
		t.Fatalf("first backup uploaded %d bytes of %d: the count is not what the server received", up, len(img))
	}

	for i := 50; i < n; i += 100 {
		rand.Read(img[i*cs+1000 : i*cs+1000+4096])
	}
	must(t, os.WriteFile(path, img, 0o644))
	out := srv.MustClient(admin, "backup", srv.Repo("/vm/200"), "disk.img:"+path)
	up, known := uploadedFor(t, srv, "vm/200")
	if up*100 >= 3*int64(len(img)) || known < n-n/50 {
		t.Fatalf("clone uploaded %d of %d bytes (%.1f%%), %d chunks known by query; want < 3%%\n%s",
			up, len(img), 100*float64(up)/float64(len(img)), known, out)
	}
	t.Logf("clone: %d of %d bytes uploaded (%.2f%%), %d chunks known by query", up, len(img), 100*float64(up)/float64(len(img)), known)
	got := filepath.Join(dir, "restored.img")
	srv.MustClient(admin, "restore", srv.Repo("/vm/200/latest/disk.img"), got)
	Sh(t, "cmp", path, got)

	other := srv.Token("tenant", "read:vm/300", "backup:vm/300")
	srv.MustClient(other, "backup", srv.Repo("/vm/300"), "disk.img:"+path)
	up, known = uploadedFor(t, srv, "vm/300")
	if up < int64(len(img)) || known != 0 {
		t.Fatalf("a token without read on vm/100 and vm/200: uploaded %d of %d bytes, %d known by query; want everything uploaded, nothing known",
			up, len(img), known)
	}
}
