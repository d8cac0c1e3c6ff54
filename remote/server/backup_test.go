package server

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

var srvHostC = catalog.Group{Type: "host", ID: "c"}

// srvImage is what a client backs up: chunks, their blobs, an index.
type srvImage struct {
	ds    []catalog.Digest
	blobs [][]byte
	idx   []byte
	man   []byte
}

func srvMakeImage(t *testing.T, g catalog.Group, at time.Time, chunks [][]byte) srvImage {
	iw, err := catalog.NewFixedIndexWriter(uint32(len(chunks[0])))
	must(t, err)
	var im srvImage
	for _, c := range chunks {
		d := catalog.Sum(c)
		blob, err := store.EncodeBlob(c)
		must(t, err)
		must(t, iw.Add(d, len(c)))
		im.ds, im.blobs = append(im.ds, d), append(im.blobs, blob)
	}
	im.idx = iw.Encode(at)
	im.man, err = catalog.EncodeManifest(srvManifest(g, at, iw.Size(), im.idx))
	must(t, err)
	return im
}

func (c *rawClient) begin(id uint32, g catalog.Group, at time.Time) wire.Frame {
	c.t.Helper()
	return c.call(wire.TBackupBegin, id, wire.BackupBegin{Group: g.String(), Time: at.Unix()}.Append(nil))
}

func (c *rawClient) upload(id uint32, d catalog.Digest, blob []byte) wire.Frame {
	c.t.Helper()
	return c.call(wire.TUploadChunk, id, wire.UploadChunk{Digest: d, Blob: blob}.Append(nil))
}

// uploadFile sends a file in frames of at most part bytes and returns the answer.
func (c *rawClient) uploadFile(id uint32, name string, data []byte, part int) wire.Frame {
	c.t.Helper()
	for fd, more := range wire.FileParts(data, part) {
		f := wire.Frame{Type: wire.TUploadFile, ID: id, Payload: wire.UploadFile{Name: name, FileData: fd}.Append(nil)}
		if more {
			f.Flags = wire.FlagMore
		}
		c.send(f)
	}
	return c.recv()
}

func wantAck(t *testing.T, f wire.Frame, isNew bool) {
	t.Helper()
	a, err := wire.DecodeAck(f.Payload)
	if f.Type != wire.TAck || err != nil || a.New != isNew {
		t.Fatalf("got %v %q, want ACK new=%v", f.Type, f.Payload, isNew)
	}
}

func TestServerBackupSession(t *testing.T) {
	e := srvStart(t, Limits{})
	c := e.dial(e.token("bk", "backup:host/c"))
	im := srvMakeImage(t, srvHostC, srvT0, srvChunks(3, 4, 4096))
	r, err := wire.DecodeBackupReady(c.begin(1, srvHostC, srvT0).Payload)
	if err != nil || r.Previous != 0 {
		t.Fatalf("BACKUP_READY %v %v", r, err)
	}
	wantError(t, c.begin(2, srvHostC, srvT0.Add(time.Hour)), wire.CodeBadRequest, "already in progress")
	for i := range im.ds {
		wantAck(t, c.upload(uint32(10+i), im.ds[i], im.blobs[i]), true)
	}
	wantAck(t, c.upload(20, im.ds[0], im.blobs[0]), false)
	// A blob that is not its digest's is refused; the connection stays.
	wantError(t, c.upload(21, im.ds[0], im.blobs[1]), wire.CodeBadRequest, "does not decode")
	wantAck(t, c.uploadFile(22, "disk.img.fidx", im.idx, 50), false)
	wantAck(t, c.call(wire.TBackupFinish, 23, im.man), false)

	if ts, err := e.st.Snapshots(srvHostC); err != nil || len(ts) != 1 || !ts[0].Equal(srvT0) {
		t.Fatalf("published: %v %v", ts, err)
	}
	var problems []store.VerifyProblem
	_, err = e.st.Verify(context.Background(), store.VerifyOptions{}, func(p store.VerifyProblem) { problems = append(problems, p) })
	if err != nil || len(problems) != 0 {
		t.Fatalf("verify: %v %v", problems, err)
	}
	if s := e.srv.Stats(); s.ChunksNew != 4 || s.ChunksKnown != 1 || s.Snapshots != 1 {
		t.Fatalf("stats %+v", s)
	}

	// The next backup names the previous one, may read its files, but
	// backup does not imply read: its chunks stay denied.
	at := srvT0.Add(time.Hour)
	r, _ = wire.DecodeBackupReady(c.begin(30, srvHostC, at).Payload)
	if r.Previous != srvT0.Unix() {
		t.Fatalf("previous %d", r.Previous)
	}
	if _, err := c.getFile(31, "host/c", srvT0, "disk.img.fidx"); err != nil {
		t.Fatalf("previous index: %v", err)
	}
	if _, codes := c.chunks(32, im.ds[0]); codes[im.ds[0]] != wire.CodeDenied {
		t.Fatalf("backup token read a chunk: %v", codes)
	}
	// FINISH with chunks neither uploaded nor in the base: DENIED with the
	// count; the session stays open and ABORT publishes nothing.
	im2 := srvMakeImage(t, srvHostC, at, srvChunks(4, 2, 4096))
	wantAck(t, c.uploadFile(33, "disk.img.fidx", im2.idx, 0), false)
	wantError(t, c.call(wire.TBackupFinish, 34, im2.man), wire.CodeDenied, "2 chunks (first")
	wantAck(t, c.call(wire.TBackupAbort, 35, nil), false)
	if ts, _ := e.st.Snapshots(srvHostC); len(ts) != 1 {
		t.Fatalf("aborted backup published: %v", ts)
	}
	wantError(t, c.upload(36, im.ds[0], im.blobs[0]), wire.CodeBadRequest, "without a backup")
	srvTmpEmpty(t, e)
}

func srvTmpEmpty(t *testing.T, e *srvEnv) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.st.Dir(), ".tmp"))
	if err != nil || len(ents) != 0 {
		t.Fatalf(".tmp: %v %v", ents, err)
	}
}

func TestServerBackupDenied(t *testing.T) {
	e := srvStart(t, Limits{})
	c := e.dial(e.token("ro", "read:*", "backup:host/a"))
	wantError(t, c.begin(1, srvHostC, srvT0), wire.CodeDenied, `may not back up "host/c"`)
	c.ping()
}

// waitOpen waits until the server has n connections open.
func (e *srvEnv) waitOpen(n int64) {
	e.t.Helper()
	for i := 0; e.srv.Stats().Open != n; i++ {
		if i > 500 {
			e.t.Fatalf("%d connections open, want %d", e.srv.Stats().Open, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServerDroppedBackupPublishesNothing(t *testing.T) {
	e := srvStart(t, Limits{})
	c := e.dial(e.token("bk", "backup:host/c"))
	im := srvMakeImage(t, srvHostC, srvT0, srvChunks(5, 2, 4096))
	c.begin(1, srvHostC, srvT0)
	wantAck(t, c.upload(2, im.ds[0], im.blobs[0]), true)
	// Half an index upload, then the connection drops.
	fd := wire.FileData{Total: uint64(len(im.idx)), Data: im.idx[:10]}
	c.send(wire.Frame{Type: wire.TUploadFile, ID: 3, Flags: wire.FlagMore, Payload: wire.UploadFile{Name: "disk.img.fidx", FileData: fd}.Append(nil)})
	c.nc.Close()
	e.waitOpen(0)
	if ts, _ := e.st.Snapshots(srvHostC); len(ts) != 0 {
		t.Fatalf("published %v", ts)
	}
	srvTmpEmpty(t, e)
}
