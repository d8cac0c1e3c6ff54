package client

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/auth"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
	"github.com/klauspost/compress/zstd"
)

// evilServer speaks TLS with auth's certificate and answers every
// request with whatever answer returns, frame by frame: a malicious or
// broken server for the real Client.
type evilServer struct {
	t      *testing.T
	ln     net.Listener
	fp     string
	answer func(req wire.Frame, send func(wire.Frame) error)
	wg     sync.WaitGroup
	sent   int64 // frames written (atomic not needed: read after Close)
	mu     sync.Mutex
}

func startEvil(t *testing.T, answer func(req wire.Frame, send func(wire.Frame) error)) *evilServer {
	t.Helper()
	cert, err := auth.LoadOrCreateCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", auth.ServerConfig(cert))
	if err != nil {
		t.Fatal(err)
	}
	s := &evilServer{t: t, ln: ln, fp: auth.Fingerprint(cert), answer: answer}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *evilServer) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer nc.Close()
			s.serve(nc)
		}()
	}
}

func (s *evilServer) serve(nc net.Conn) {
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	if f, err := wire.ReadFrame(nc); err != nil || f.Type != wire.THello {
		return
	}
	sh := wire.ServerHello{Version: wire.Version, Name: "evil"}
	var wmu sync.Mutex
	send := func(f wire.Frame) error {
		wmu.Lock()
		defer wmu.Unlock()
		s.mu.Lock()
		s.sent++
		s.mu.Unlock()
		return wire.WriteFrame(nc, f)
	}
	if send(wire.Frame{Type: wire.THello, Payload: sh.Append(nil)}) != nil {
		return
	}
	for {
		f, err := wire.ReadFrame(nc)
		if err != nil {
			return
		}
		switch f.Type {
		case wire.TPing:
			_ = send(wire.Frame{Type: wire.TPong, Payload: f.Payload})
		case wire.TGoodbye:
			return
		case wire.TCancel:
		default:
			go s.answer(f, send)
		}
	}
}

func (s *evilServer) frames() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// evilBlob is a valid blob header (CRC right) over payload, claiming plain bytes.
func evilBlob(plain uint32, zstdFlag bool, payload []byte) []byte {
	b := make([]byte, store.BlobHeaderSize, store.BlobHeaderSize+len(payload))
	copy(b, "BFCB")
	b[4] = store.BlobVersion
	if zstdFlag {
		b[5] = 1
	}
	binary.LittleEndian.PutUint32(b[8:], plain)
	b = append(b, payload...)
	tab := crc32.MakeTable(crc32.Castagnoli)
	c := crc32.Update(crc32.Update(0, tab, b[:12]), tab, b[store.BlobHeaderSize:])
	binary.LittleEndian.PutUint32(b[12:], c)
	return b
}

// A malicious server's answers are refused with an error, never returned
// as data, and the client's memory stays bounded.
func TestHardenMaliciousServer(t *testing.T) {
	good := []byte("the chunk the client asked for")
	d := catalog.Sum(good)
	other, err := store.EncodeBlob([]byte("another chunk"))
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 64<<20)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	bomb := enc.EncodeAll(zeros, nil) // 64 MiB of zeros in a few KiB
	zeros = nil
	chunk := func(dg catalog.Digest, blob []byte) func(wire.Frame, func(wire.Frame) error) {
		return func(r wire.Frame, send func(wire.Frame) error) {
			_ = send(wire.Frame{Type: wire.TChunk, ID: r.ID, Payload: wire.Chunk{Digest: dg, Blob: blob}.Append(nil)})
		}
	}
	endlessGroups := func(r wire.Frame, send func(wire.Frame) error) {
		names := make([]string, wire.MaxGroups)
		for i := range names {
			names[i] = "host/" + strings.Repeat("x", 120) + string(rune('a'+i%26))
		}
		p := wire.Groups{Groups: names}.Append(nil)
		for range 100 { // 6.5 million groups, 800 MiB, unless the client hangs up
			if send(wire.Frame{Type: wire.TGroups, ID: r.ID, Flags: wire.FlagMore, Payload: p}) != nil {
				return
			}
		}
	}
	fileData := func(total uint64) func(wire.Frame, func(wire.Frame) error) {
		return func(r wire.Frame, send func(wire.Frame) error) {
			for off := uint64(0); off < 64<<20; off += 1 << 20 { // past total when total < 64 MiB
				fd := wire.FileData{Total: total, Offset: off, Data: make([]byte, 1<<20)}
				if send(wire.Frame{Type: wire.TFileData, ID: r.ID, Flags: wire.FlagMore, Payload: fd.Append(nil)}) != nil {
					return
				}
			}
		}
	}
	snaps := func(times ...int64) func(wire.Frame, func(wire.Frame) error) {
		return func(r wire.Frame, send func(wire.Frame) error) {
			p := binary.LittleEndian.AppendUint32(nil, uint32(len(times)))
			for _, s := range times {
				p = binary.LittleEndian.AppendUint64(p, uint64(s))
			}
			_ = send(wire.Frame{Type: wire.TSnapshots, ID: r.ID, Payload: p})
		}
	}
	tests := []struct {
		name   string
		answer func(wire.Frame, func(wire.Frame) error)
		op     func(*Client) (any, error)
	}{
		{"chunk under another digest", chunk(catalog.Sum([]byte("another chunk")), other), getChunk(d)},
		{"chunk with wrong content", chunk(d, other), getChunk(d)},
		{"blob claiming 4 GiB", chunk(d, evilBlob(0xFFFFFFFF, false, good)), getChunk(d)},
		{"blob claiming 8 GiB in zstd", chunk(d, evilBlob(catalog.MaxChunkSize, true, bomb)), getChunk(d)},
		{"oversized blob", chunk(d, evilBlob(uint32(len(good)), false, make([]byte, wire.MaxPayload-64))), getChunk(d)},
		{"endless GROUPS with MORE", endlessGroups, func(c *Client) (any, error) { return c.Groups() }},
		{"FILE_DATA total 1 TiB", fileData(1 << 40), readFile},
		{"FILE_DATA past its total", fileData(4 << 20), readFile},
		{"FILE_DATA stalls before its total", fileData(1 << 30), readFile},
		{"SNAPSHOTS out of order", snaps(20, 10), snapshots},
		{"SNAPSHOTS repeated", snaps(10, 10), snapshots},
		{"SNAPSHOTS count lies", func(r wire.Frame, send func(wire.Frame) error) {
			_ = send(wire.Frame{Type: wire.TSnapshots, ID: r.ID, Payload: []byte{0xff, 0xff, 0xff, 0xff}})
		}, snapshots},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startEvil(t, tt.answer)
			// Only the stalled answer must end by the request timeout; the
			// others must be refused by a check, which under -race on a
			// loaded machine may take longer than 2 s (endless GROUPS
			// reaching its cap did), so they get a long one that cannot
			// hide a missing check (they assert "not a timeout").
			timeout := time.Minute
			if strings.Contains(tt.name, "stalls") {
				timeout = 2 * time.Second
			}
			cl, err := Dial(context.Background(), ClientConfig{Addr: s.ln.Addr().String(), Fingerprint: s.fp, Token: "bfs1.x.y", Timeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			start := time.Now()
			got, err := tt.op(cl)
			runtime.ReadMemStats(&ms)
			alloc := ms.TotalAlloc - before
			if err == nil {
				t.Fatalf("accepted: %v", got)
			}
			var ce errConn
			stall := strings.Contains(tt.name, "stalls")
			if stall && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("stalled answer: %v, want the request timeout", err)
			}
			// Refused by a check, not by the connection failing or the
			// request timing out (a wall-clock bound here failed under
			// -race on a loaded machine: endless GROUPS takes a while to
			// reach its cap).
			if !stall && (errors.As(err, &ce) || errors.Is(err, context.DeadlineExceeded)) {
				t.Fatalf("refused only as a lost connection or a timeout after %v: %v", time.Since(start), err)
			}
			// A stalled file is bounded by maxFileSize (1 GiB) by design.
			if !stall && alloc > 200<<20 {
				t.Fatalf("allocated %d MiB refusing it", alloc>>20)
			}
			t.Logf("%v in %v, %d MiB allocated, %d frames sent", err, time.Since(start).Round(time.Millisecond), alloc>>20, s.frames())
		})
	}
}

// evilGroup and evilTime name what the client asks the evil server for;
// it answers whatever the name.
var (
	evilGroup = catalog.Group{Type: "host", ID: "a"}
	evilTime  = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
)

func getChunk(d catalog.Digest) func(*Client) (any, error) {
	return func(c *Client) (any, error) { return c.Chunk(d) }
}

func readFile(c *Client) (any, error) { return c.ReadFile(evilGroup, evilTime, "disk.img.fidx") }

func snapshots(c *Client) (any, error) { return c.Snapshots(evilGroup) }
