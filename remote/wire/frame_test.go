package wire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/backupfs/backupfs/catalog"
)

func header(t Type, flags Flags, reserved uint16, id, n uint32) []byte {
	h := AppendFrame(nil, Frame{Type: t, Flags: flags, ID: id})
	h[2], h[3] = byte(reserved), byte(reserved>>8)
	h[8], h[9], h[10], h[11] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	return h
}

func TestFrameRoundTrip(t *testing.T) {
	frames := []Frame{
		{Type: THello, Payload: ClientHello{Version: Version, Token: "tok"}.Append(nil)},
		{Type: TGoodbye},
		{Type: TGroups, Flags: FlagMore, ID: 7, Payload: Groups{Groups: []string{"vm/100"}}.Append(nil)},
		{Type: TGetChunks, Flags: FlagDemand, ID: 0xffffffff, Payload: GetChunks{Digests: make([]catalog.Digest, 2)}.Append(nil)},
		{Type: TChunk, ID: 3, Payload: bytes.Repeat([]byte{0xab}, smallFrame+1)}, // net.Buffers path
		{Type: TFileData, ID: 4, Payload: make([]byte, smallFrame)},              // largest copied frame
		{Type: TBackupAbort, ID: 9},
	}
	var buf bytes.Buffer
	for _, f := range frames {
		if err := WriteFrame(&buf, f); err != nil {
			t.Fatalf("WriteFrame(%v): %v", f.Type, err)
		}
	}
	for i, want := range frames {
		got, err := ReadFrame(&buf)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.Type != want.Type || got.Flags != want.Flags || got.ID != want.ID || !bytes.Equal(got.Payload, want.Payload) {
			t.Fatalf("frame %d: got %v/%#x/%d/%d bytes, want %v/%#x/%d/%d bytes", i,
				got.Type, got.Flags, got.ID, len(got.Payload), want.Type, want.Flags, want.ID, len(want.Payload))
		}
	}
	if _, err := ReadFrame(&buf); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestReadFrameMalformed(t *testing.T) {
	ok := header(TPing, 0, 0, 1, 8)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"partial header", ok[:5], io.ErrUnexpectedEOF},
		{"header only", ok, io.ErrUnexpectedEOF},
		{"short payload", append(ok[:12:12], 1, 2, 3), io.ErrUnexpectedEOF},
		{"type 0", header(0, 0, 0, 1, 0), ErrProtocol},
		{"unknown type 0x07", header(0x07, 0, 0, 1, 0), ErrProtocol},
		{"unknown type 0x39", header(0x39, 0, 0, 1, 0), ErrProtocol},
		{"unknown type 0xff", header(0xff, 0, 0, 1, 0), ErrProtocol},
		{"unknown flag", header(TGroups, 1<<2, 0, 1, 0), ErrProtocol},
		{"MORE on PING", header(TPing, FlagMore, 0, 1, 8), ErrProtocol},
		{"DEMAND on CHUNK", header(TChunk, FlagDemand, 0, 1, 0), ErrProtocol},
		{"MORE on GET_CHUNKS", header(TGetChunks, FlagMore, 0, 1, 0), ErrProtocol},
		{"reserved low", header(TPing, 0, 1, 1, 8), ErrProtocol},
		{"reserved high", header(TPing, 0, 0x100, 1, 8), ErrProtocol},
		{"length max+1", header(TChunk, 0, 0, 1, MaxPayload+1), ErrProtocol},
		{"length 4 GiB", header(TChunk, 0, 0, 1, 0xffffffff), ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.want == io.EOF && err != io.EOF {
				t.Fatalf("clean close returned %v, not io.EOF itself", err)
			}
		})
	}
}

// A header claiming 4 GiB must be refused before anything is allocated
// for it: the reader holds only the header.
func TestReadFrameHugeLengthNoAlloc(t *testing.T) {
	h := header(TChunk, 0, 0, 1, 0xffffffff)
	r := bytes.NewReader(h)
	n := allocatedBytes(100, func() {
		r.Reset(h)
		if _, err := ReadFrame(r); !errors.Is(err, ErrProtocol) {
			t.Fatalf("got %v", err)
		}
	})
	if n > 4<<10 {
		t.Errorf("%d bytes allocated per refused header", n)
	}
}

// ReadFrame must not depend on how the reader splits its data.
func TestReadFrameOneByteReader(t *testing.T) {
	want := Frame{Type: TChunk, ID: 5, Payload: []byte("blob bytes")}
	r := iotest.OneByteReader(bytes.NewReader(AppendFrame(nil, want)))
	got, err := ReadFrame(r)
	if err != nil || got.ID != 5 || string(got.Payload) != "blob bytes" {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestReadFrameBufReuses(t *testing.T) {
	buf := make([]byte, 0, 64)
	in := AppendFrame(nil, Frame{Type: TPing, Payload: Ping{Nonce: 42}.Append(nil)})
	f, err := ReadFrameBuf(bytes.NewReader(in), buf)
	if err != nil {
		t.Fatal(err)
	}
	if &f.Payload[0] != &buf[:1][0] {
		t.Fatal("payload not read into the buffer")
	}
	f, err = ReadFrameBuf(bytes.NewReader(AppendFrame(nil, Frame{Type: TChunk, Payload: make([]byte, 100)})), buf)
	if err != nil || len(f.Payload) != 100 {
		t.Fatalf("larger than the buffer: %d bytes, %v", len(f.Payload), err)
	}
}

type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) { w.writes++; return w.Buffer.Write(p) }

func TestWriteFrameOneWrite(t *testing.T) {
	var w countingWriter
	if err := WriteFrame(&w, Frame{Type: TChunk, Payload: make([]byte, smallFrame)}); err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 || w.Len() != HeaderSize+smallFrame {
		t.Fatalf("%d writes, %d bytes", w.writes, w.Len())
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriteFrameErrors(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
		w    io.Writer
		want error
	}{
		{"unknown type", Frame{Type: 0x7f}, io.Discard, ErrProtocol},
		{"bad flags", Frame{Type: TPing, Flags: FlagDemand}, io.Discard, ErrProtocol},
		{"too large", Frame{Type: TChunk, Payload: make([]byte, MaxPayload+1)}, io.Discard, ErrProtocol},
		{"writer fails small", Frame{Type: TPing}, errWriter{}, io.ErrClosedPipe},
		{"writer fails large", Frame{Type: TChunk, Payload: make([]byte, smallFrame+1)}, errWriter{}, io.ErrClosedPipe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := WriteFrame(tt.w, tt.f); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// Writers sharing a connection serialise WriteFrame with a mutex; frames
// must come out whole.
func TestWriteFrameConcurrent(t *testing.T) {
	var (
		mu  sync.Mutex
		out bytes.Buffer
		wg  sync.WaitGroup
	)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				p := bytes.Repeat([]byte{byte(g)}, (g*i*997)%(2*smallFrame))
				mu.Lock()
				err := WriteFrame(&out, Frame{Type: TChunk, ID: uint32(g), Payload: p})
				mu.Unlock()
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for n := 0; ; n++ {
		f, err := ReadFrame(&out)
		if err == io.EOF {
			if n != 160 {
				t.Fatalf("%d frames, want 160", n)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Payload) > 0 && bytes.Count(f.Payload, []byte{byte(f.ID)}) != len(f.Payload) {
			t.Fatalf("frame %d of writer %d is interleaved", n, f.ID)
		}
	}
}

func TestTypeAndCodeStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{THello.String(), "HELLO"},
		{TGetChunks.String(), "GET_CHUNKS"},
		{TBackupAbort.String(), "BACKUP_ABORT"},
		{Type(0x07).String(), "TYPE(0x07)"},
		{Type(0xff).String(), "TYPE(0xff)"},
		{CodeNotFound.String(), "NOT_FOUND"},
		{CodeCanceled.String(), "CANCELED"},
		{Code(0).String(), "CODE(0)"},
		{Code(99).String(), "CODE(99)"},
		{Error{Code: CodeDenied, Message: "no backup of vm/100"}.Error(), "server: DENIED: no backup of vm/100"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	known := 0
	for i := range 256 {
		if Type(i).Known() {
			known++
			if strings.HasPrefix(Type(i).String(), "TYPE(") {
				t.Errorf("type %#x known but unnamed", i)
			}
		}
	}
	if known != 28 {
		t.Errorf("%d known types, want 28", known)
	}
}
