package server

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/wire"
)

// Each bad peer loses only its own connection; another keeps working.
func TestServerBadPeers(t *testing.T) {
	e := srvStart(t, Limits{FrameTimeout: 300 * time.Millisecond})
	tok := e.token("r", "read:*")
	other := e.dial(tok)
	huge := make([]byte, wire.HeaderSize)
	huge[0] = byte(wire.TGetChunks)
	binary.LittleEndian.PutUint32(huge[4:], 1)
	binary.LittleEndian.PutUint32(huge[8:], 0xFFFFFFFF)
	tests := []struct {
		name   string
		bytes  []byte
		badReq bool // expect ERROR BAD_REQUEST id 0 before the close
	}{
		{"4 GiB length", huge, true},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), true},
		{"reserved bits", []byte{byte(wire.TPing), 0, 1, 0, 0, 0, 0, 0, 8, 0, 0, 0}, true},
		{"request id 0", wire.AppendFrame(nil, wire.Frame{Type: wire.TListGroups}), true},
		{"server frame", wire.AppendFrame(nil, wire.Frame{Type: wire.TAck, ID: 3, Payload: []byte{0}}), true},
		{"stalled half frame", huge[:5], false},
		{"stalled payload", wire.AppendFrame(nil, wire.Frame{Type: wire.TPing, Payload: make([]byte, 8)})[:15], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial(tok)
			start := time.Now()
			c.sendBytes(tt.bytes)
			fs := c.waitClosed()
			if tt.badReq {
				if len(fs) != 1 || fs[0].ID != 0 {
					t.Fatalf("got %d frames before close, want one ERROR", len(fs))
				}
				wantError(t, fs[0], wire.CodeBadRequest, "")
			} else if len(fs) != 0 || time.Since(start) > 30*time.Second { // by the 300 ms frame timeout, not the idle one; generous for a loaded machine
				t.Fatalf("stalled peer: %d frames, dropped after %v", len(fs), time.Since(start))
			}
			other.ping()
		})
	}
}

func TestServerIdleTimeoutSaysGoodbye(t *testing.T) {
	e := srvStart(t, Limits{IdleTimeout: 200 * time.Millisecond})
	c := e.dial(e.token("r", "read:*"))
	fs := c.waitClosed()
	if len(fs) != 1 || fs[0].Type != wire.TGoodbye {
		t.Fatalf("idle close sent %v", fs)
	}
}

// Requests beyond InFlight get BUSY; partial uploads hold their slots.
func TestServerInFlightLimit(t *testing.T) {
	e := srvStart(t, Limits{InFlight: 2, Buffered: 1050})
	c := e.dial(e.token("bk", "backup:host/c", "read:*"))
	c.begin(1, srvHostC, srvT0)
	part := func(id uint32, total uint64) {
		fd := wire.FileData{Total: total, Data: []byte("x")}
		c.send(wire.Frame{Type: wire.TUploadFile, ID: id, Flags: wire.FlagMore, Payload: wire.UploadFile{Name: "disk.img.fidx", FileData: fd}.Append(nil)})
	}
	part(2, 1000) // one upload is admitted whatever Buffered says
	part(3, 1000) // a second one over Buffered is BUSY, its rest ignored
	wantError(t, c.recv(), wire.CodeBusy, "bytes of uploads buffered")
	part(3, 1000)
	part(4, 50)
	wantError(t, c.call(wire.TListGroups, 5, nil), wire.CodeBusy, "2 requests in flight, at most 2")
	c.ping()
	// Each connection is limited on its own: flood another.
	other := e.dial(e.token("r2", "read:*"))
	for id := uint32(10); id < 40; id++ {
		other.send(wire.Frame{Type: wire.TGetChunks, ID: id, Payload: wire.GetChunks{Digests: []catalog.Digest{{}}}.Append(nil)})
	}
	busy, missing := 0, 0
	for range 30 {
		switch f := other.recv(); f.Type {
		case wire.TError:
			busy++
		case wire.TMissing:
			missing++
		}
	}
	if missing == 0 || busy+missing != 30 {
		t.Fatalf("flood: %d BUSY, %d MISSING", busy, missing)
	}
	t.Logf("flood of 30 with InFlight 2: %d BUSY, %d MISSING", busy, missing)
	c.ping()
}

// srvBigReq asks for the same 128 KiB chunk n times (readahead).
func srvBigReq(t *testing.T, e *srvEnv, c *rawClient, n int) catalog.Digest {
	d := e.snapshot(srvHostA, srvT0, srvChunks(9, 1, 128<<10))[0]
	_, err := c.getFile(1, "host/a", srvT0, "disk.img.fidx")
	must(t, err)
	ds := make([]catalog.Digest, n)
	for i := range ds {
		ds[i] = d
	}
	c.send(wire.Frame{Type: wire.TGetChunks, ID: 2, Payload: wire.GetChunks{Digests: ds}.Append(nil)})
	return d
}

// srvWaitServed waits until the server has answered n chunks.
func srvWaitServed(t *testing.T, e *srvEnv, n int64) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); e.srv.Stats().ChunksServed < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d chunks served after 20 s, want %d", e.srv.Stats().ChunksServed, n)
		}
	}
}

func TestServerDemandOvertakesReadahead(t *testing.T) {
	e := srvStart(t, Limits{})
	c := e.dial(e.token("r", "read:*"))
	d := srvBigReq(t, e, c, wire.MaxGetChunks)
	srvWaitServed(t, e, 32) // readahead answers queued ahead of the demand
	c.send(wire.Frame{Type: wire.TGetChunks, ID: 3, Flags: wire.FlagDemand, Payload: wire.GetChunks{Digests: []catalog.Digest{d}}.Append(nil)})
	before := 0
	for {
		f := c.recv()
		if f.ID == 3 {
			break
		}
		before++
	}
	if before > wire.MaxGetChunks/2 {
		t.Fatalf("demand answered after %d readahead chunks", before)
	}
	t.Logf("demand answered after %d of %d readahead chunks", before, wire.MaxGetChunks)
}

func TestServerCancel(t *testing.T) {
	e := srvStart(t, Limits{})
	c := e.dial(e.token("r", "read:*"))
	srvBigReq(t, e, c, wire.MaxGetChunks)
	srvWaitServed(t, e, 32) // the request is being answered
	c.send(wire.Frame{Type: wire.TCancel, ID: 2})
	n := 0
	for {
		f := c.recv()
		if f.Type == wire.TError {
			wantError(t, f, wire.CodeCanceled, "canceled")
			break
		}
		n++
	}
	if n >= wire.MaxGetChunks {
		t.Fatalf("all %d chunks sent despite CANCEL", n)
	}
	t.Logf("%d chunks before ERROR CANCELED", n)
	c.ping()
}

func TestServerShutdown(t *testing.T) {
	e := srvStart(t, Limits{})
	reader := e.dial(e.token("r", "read:*"))
	srvBigReq(t, e, reader, 512) // 64 MiB: in flight when Shutdown starts
	backer := e.dial(e.token("bk", "backup:host/c"))
	im := srvMakeImage(t, srvHostC, srvT0, srvChunks(5, 1, 4096))
	backer.begin(1, srvHostC, srvT0)
	wantAck(t, backer.upload(2, im.ds[0], im.blobs[0]), true)
	srvWaitServed(t, e, 1) // the reader's request is being answered
	errc := make(chan error, 1)
	go func() { errc <- e.shutdown(20 * time.Second) }()
	fs := reader.waitClosed()
	chunks := 0
	for _, f := range fs {
		if f.Type == wire.TChunk {
			chunks++
		}
	}
	if chunks != 512 || fs[len(fs)-1].Type != wire.TGoodbye {
		t.Fatalf("in-flight answer: %d chunks, last %v\n%s", chunks, fs[len(fs)-1].Type, e.logs)
	}
	if fs := backer.waitClosed(); len(fs) != 1 || fs[0].Type != wire.TGoodbye {
		t.Fatalf("backup connection got %v", fs)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if ts, _ := e.st.Snapshots(srvHostC); len(ts) != 0 {
		t.Fatalf("open backup published: %v", ts)
	}
	srvTmpEmpty(t, e)
}

// A revoked token's open connection is refused at its next request
// (checked at most once a second) and closed.
func TestServerRevokedTokenClosed(t *testing.T) {
	e := srvStart(t, Limits{})
	c := e.dial(e.token("gone", "read:*"))
	if f := c.call(wire.TListGroups, 1, nil); f.Type != wire.TGroups {
		t.Fatalf("before revoke: %v", f.Type)
	}
	must(t, e.toks.Revoke("gone"))
	time.Sleep(srvValidEvery + 50*time.Millisecond)
	c.send(wire.Frame{Type: wire.TListGroups, ID: 2})
	fs := c.waitClosed()
	if len(fs) != 1 {
		t.Fatalf("got %d frames", len(fs))
	}
	wantError(t, fs[0], wire.CodeDenied, `token "gone" was revoked`)
}
