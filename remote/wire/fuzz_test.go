package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// Seeds live in testdata/fuzz/FuzzX/ (written by TestWriteSeeds).

// frameDecoders names the decoder of each frame type's payload.
var frameDecoders = map[Type]string{
	THello: "ClientHello", TError: "Error", TPing: "Ping", TPong: "Ping",
	TGoodbye: "Empty", TCancel: "Empty", TListGroups: "Empty", TBackupAbort: "Empty",
	TGroups: "Groups", TListSnapshots: "ListSnapshots", TSnapshots: "Snapshots",
	TGetFile: "GetFile", TFileData: "FileData", TGetChunks: "GetChunks", TChunk: "Chunk",
	TMissing: "Missing", TBackupBegin: "BackupBegin", TBackupReady: "BackupReady",
	TUploadChunk: "UploadChunk", TAck: "Ack", TUploadFile: "UploadFile", TBackupFinish: "BackupFinish",
	TQueryChunks: "QueryChunks", TKnownChunks: "KnownChunks",
	TAdmin: "Admin", TAdminOutput: "AdminOutput",
	TPush: "Push", TPushResult: "PushResult",
}

// FuzzReadFrame reads frames from a stream until it ends or fails. Every
// frame read must re-encode to the bytes it came from, every failure must
// be a clean EOF, an unexpected EOF or ErrProtocol, and the payload must
// decode or fail with ErrProtocol/ErrVersion (round trip checked by
// checkRoundTrip).
func FuzzReadFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := bytes.NewReader(stream)
		for {
			start := len(stream) - r.Len()
			fr, err := ReadFrame(r)
			if err == io.EOF {
				if start != len(stream) {
					t.Fatalf("io.EOF at %d of %d bytes", start, len(stream))
				}
				return
			}
			if err != nil {
				if !errors.Is(err, ErrProtocol) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			end := len(stream) - r.Len()
			if got := AppendFrame(nil, fr); !bytes.Equal(got, stream[start:end]) {
				t.Fatalf("frame re-encodes to %x, read from %x", got, stream[start:end])
			}
			if err := fr.Check(); err != nil {
				t.Fatalf("ReadFrame returned a frame that fails Check: %v", err)
			}
			checkRoundTrip(t, frameDecoders[fr.Type], fr.Payload)
		}
	})
}

// FuzzDecodeMessages dispatches by the first byte to every decoder.
func FuzzDecodeMessages(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		checkRoundTrip(t, decoders[int(data[0])%len(decoders)].name, data[1:])
	})
}

// checkRoundTrip decodes p with the named decoder; what decodes must
// re-encode to exactly p (the encoding is canonical), what does not must
// fail with ErrProtocol (or ErrVersion from a hello).
func checkRoundTrip(t *testing.T, name string, p []byte) {
	t.Helper()
	m, err := decoders[decoderIndex(name)].decode(p)
	if err != nil {
		if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrVersion) {
			t.Fatalf("%s: error without a sentinel: %v", name, err)
		}
		return
	}
	if got := m.Append(nil); !bytes.Equal(got, p) {
		t.Fatalf("%s: %x decodes to %+v, which encodes to %x", name, p, m, got)
	}
}

// FuzzFileAssembler feeds a script of frames to an assembler. Each 6-byte
// record is total u16, offset u16, data length u8, more u8 (bit 0); byte i
// of the file is byte(i). A completed file must be exactly total bytes of
// that pattern; an error must wrap ErrProtocol or ErrTooLarge and stick.
func FuzzFileAssembler(f *testing.F) {
	f.Fuzz(func(t *testing.T, limit uint16, script []byte) {
		a := NewFileAssembler(uint64(limit))
		var failed error
		for ; len(script) >= 6; script = script[6:] {
			total := binary.LittleEndian.Uint16(script)
			off := binary.LittleEndian.Uint16(script[2:])
			data := make([]byte, script[4])
			for i := range data {
				data[i] = byte(int(off) + i)
			}
			done, err := a.Add(FileData{Total: uint64(total), Offset: uint64(off), Data: data}, script[5]&1 != 0)
			checkAssemblerStep(t, a, done, err, failed)
			if err != nil {
				failed = err
			}
		}
	})
}

func checkAssemblerStep(t *testing.T, a *FileAssembler, done bool, err, failed error) {
	t.Helper()
	switch {
	case failed != nil && err != failed:
		t.Fatalf("after %v, Add returned %v", failed, err)
	case err != nil && !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrTooLarge):
		t.Fatalf("error without a sentinel: %v", err)
	case err != nil && done:
		t.Fatal("done with an error")
	case a.Received() > a.Total():
		t.Fatalf("received %d of %d", a.Received(), a.Total())
	}
	for i, b := range a.Bytes() {
		if b != byte(i) {
			t.Fatalf("byte %d is %d", i, b)
		}
	}
	if done && a.Received() != a.Total() {
		t.Fatalf("done at %d of %d", a.Received(), a.Total())
	}
}
