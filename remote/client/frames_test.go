package client

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// frameReader reads what wire.ReadFrame reads, frame for frame, and gives
// a pooled buffer exactly for the CHUNK frames whose blob is zstd.
func TestFrameReader(t *testing.T) {
	raw := make([]byte, 100<<10)
	_, _ = rand.NewChaCha8([32]byte{5}).Read(raw)
	text := bytes.Repeat([]byte("compressible chunk text "), 5000)
	rawBlob, _ := store.EncodeBlob(raw)
	zBlob, _ := store.EncodeBlob(text)
	if store.BlobCompressed(rawBlob) || !store.BlobCompressed(zBlob) {
		t.Fatal("test blobs are not raw and zstd")
	}
	chunk := func(blob []byte) wire.Frame {
		return wire.Frame{Type: wire.TChunk, ID: 3, Payload: wire.Chunk{Digest: catalog.Sum(blob), Blob: blob}.Append(nil)}
	}
	frames := []struct {
		f      wire.Frame
		pooled bool
	}{
		{chunk(rawBlob), false},
		{chunk(zBlob), true},
		{wire.Frame{Type: wire.TMissing, ID: 4, Payload: wire.Missing{Code: wire.CodeNotFound}.Append(nil)}, false},
		{chunk([]byte("short blob")), false}, // shorter than digest + blob header
		{wire.Frame{Type: wire.TPong, Payload: wire.Ping{Nonce: 9}.Append(nil)}, false},
		{chunk(zBlob), true},
	}
	var stream bytes.Buffer
	for _, fr := range frames {
		if err := wire.WriteFrame(&stream, fr.f); err != nil {
			t.Fatal(err)
		}
	}
	fr := frameReader{r: &stream}
	for i, want := range frames {
		got, buf, err := fr.next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.Type != want.f.Type || got.ID != want.f.ID || !bytes.Equal(got.Payload, want.f.Payload) {
			t.Errorf("frame %d: got %v id %d (%d bytes), want %v id %d (%d bytes)", i,
				got.Type, got.ID, len(got.Payload), want.f.Type, want.f.ID, len(want.f.Payload))
		}
		if (buf != nil) != want.pooled {
			t.Errorf("frame %d: pooled buffer %v, want %v", i, buf != nil, want.pooled)
		}
		if buf != nil {
			if &(*buf)[0] != &got.Payload[0] {
				t.Errorf("frame %d: payload is not in the pooled buffer", i)
			}
			frameBufs.Put(buf)
		}
	}
	if _, _, err := fr.next(); err != io.EOF {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}
}

// Damaged streams fail as wire.ReadFrame fails them: a header cut short, a
// payload cut short after the peeked blob header, a length over the limit.
func TestFrameReaderDamaged(t *testing.T) {
	zBlob, _ := store.EncodeBlob(bytes.Repeat([]byte("zz"), 50000))
	var whole bytes.Buffer
	if err := wire.WriteFrame(&whole, wire.Frame{Type: wire.TChunk, ID: 1, Payload: wire.Chunk{Blob: zBlob}.Append(nil)}); err != nil {
		t.Fatal(err)
	}
	huge := bytes.Clone(whole.Bytes()[:wire.HeaderSize+chunkPeek])
	binary.LittleEndian.PutUint32(huge[8:], 1<<31)
	tests := []struct {
		name  string
		bytes []byte
		want  error
	}{
		{"header cut", whole.Bytes()[:5], io.ErrUnexpectedEOF},
		{"inside the peek", whole.Bytes()[:wire.HeaderSize+10], io.ErrUnexpectedEOF},
		{"payload cut", whole.Bytes()[:whole.Len()-1], io.ErrUnexpectedEOF},
		{"length over the limit", huge, wire.ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := frameReader{r: bytes.NewReader(tt.bytes)}
			_, buf, err := fr.next()
			if !errors.Is(err, tt.want) || buf != nil {
				t.Errorf("err %v, buffer %v; want %v and no buffer", err, buf != nil, tt.want)
			}
			if _, err2 := wire.ReadFrame(bytes.NewReader(tt.bytes)); !errors.Is(err2, tt.want) {
				t.Errorf("wire.ReadFrame itself gave %v", err2)
			}
		})
	}
}

// frameReader reads any byte stream as wire.ReadFrame does: the same
// frames, and an error where ReadFrame has one.
func FuzzFrameReader(f *testing.F) {
	zBlob, _ := store.EncodeBlob(bytes.Repeat([]byte("fz"), 4000))
	rawBlob, _ := store.EncodeBlob([]byte("raw"))
	for _, blob := range [][]byte{zBlob, rawBlob, []byte("x")} {
		var b bytes.Buffer
		_ = wire.WriteFrame(&b, wire.Frame{Type: wire.TChunk, ID: 2, Payload: wire.Chunk{Blob: blob}.Append(nil)})
		_ = wire.WriteFrame(&b, wire.Frame{Type: wire.TPong, Payload: wire.Ping{Nonce: 1}.Append(nil)})
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ref := bytes.NewReader(in)
		fr := frameReader{r: bytes.NewReader(in)}
		for {
			want, werr := wire.ReadFrame(ref)
			got, buf, gerr := fr.next()
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("ReadFrame err %v, frameReader err %v", werr, gerr)
			}
			if werr != nil {
				if buf != nil {
					t.Fatal("a pooled buffer with an error")
				}
				return
			}
			if got.Type != want.Type || got.ID != want.ID || got.Flags != want.Flags || !bytes.Equal(got.Payload, want.Payload) {
				t.Fatalf("frame differs: %v id %d vs %v id %d", got.Type, got.ID, want.Type, want.ID)
			}
			if buf != nil {
				frameBufs.Put(buf)
			}
		}
	})
}
