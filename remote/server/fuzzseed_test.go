package server

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// srvFuzzSeeds returns the seed corpus of FuzzServerConn by name.
func srvFuzzSeeds() map[string][]byte {
	fr := func(t wire.Type, fl wire.Flags, id uint32, p []byte) []byte {
		return wire.AppendFrame(nil, wire.Frame{Type: t, Flags: fl, ID: id, Payload: p})
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	chunk := []byte("hello, fuzz")
	blob, _ := store.EncodeBlob(chunk)
	d := catalog.Sum(chunk)
	gf := func(name string) []byte {
		return wire.GetFile{Group: "host/a", Time: srvT0.Unix(), Name: name}.Append(nil)
	}
	huge := fr(wire.TGetChunks, 0, 1, nil)
	huge[8], huge[9], huge[10], huge[11] = 0xff, 0xff, 0xff, 0xff
	return map[string][]byte{
		"seed-ping-goodbye": cat(fr(wire.TPing, 0, 0, wire.Ping{Nonce: 1}.Append(nil)), fr(wire.TGoodbye, 0, 0, nil)),
		"seed-lists": cat(fr(wire.TListGroups, 0, 1, nil), fr(wire.TListSnapshots, 0, 2, wire.ListSnapshots{Group: "host/a"}.Append(nil)),
			fr(wire.TListSnapshots, 0, 3, wire.ListSnapshots{Group: "vm/x"}.Append(nil))),
		"seed-read": cat(fr(wire.TGetFile, 0, 1, gf(catalog.ManifestName)), fr(wire.TGetFile, 0, 2, gf("disk.img.fidx")),
			fr(wire.TGetChunks, wire.FlagDemand, 3, wire.GetChunks{Digests: []catalog.Digest{d, {}}}.Append(nil)),
			fr(wire.TCancel, 0, 3, nil)),
		"seed-backup": cat(fr(wire.TBackupBegin, 0, 1, wire.BackupBegin{Group: "host/c", Time: srvT0.Unix()}.Append(nil)),
			fr(wire.TUploadChunk, 0, 2, wire.UploadChunk{Digest: d, Blob: blob}.Append(nil)),
			fr(wire.TUploadFile, wire.FlagMore, 3, wire.UploadFile{Name: "disk.img.fidx", FileData: wire.FileData{Total: 4, Data: []byte("ab")}}.Append(nil)),
			fr(wire.TUploadFile, 0, 3, wire.UploadFile{Name: "disk.img.fidx", FileData: wire.FileData{Total: 4, Offset: 2, Data: []byte("cd")}}.Append(nil)),
			fr(wire.TBackupFinish, 0, 4, []byte(`{"version":1}`)), fr(wire.TBackupAbort, 0, 5, nil)),
		"seed-huge-length": huge,
		"seed-garbage":     []byte("GET / HTTP/1.1\r\n\r\n"),
		"seed-half-frame":  fr(wire.TPing, 0, 0, wire.Ping{}.Append(nil))[:15],
	}
}

// TestServerFuzzSeedsUpToDate keeps testdata/fuzz/FuzzServerConn in step
// with srvFuzzSeeds; BACKUPFS_WRITE_SEEDS=1 rewrites the files.
func TestServerFuzzSeedsUpToDate(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzServerConn")
	for name, b := range srvFuzzSeeds() {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		path := filepath.Join(dir, name)
		if os.Getenv("BACKUPFS_WRITE_SEEDS") != "" {
			must(t, os.MkdirAll(dir, 0o755))
			must(t, os.WriteFile(path, []byte(want), 0o644))
			continue
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (run with BACKUPFS_WRITE_SEEDS=1): %v", path, err)
		}
	}
}
