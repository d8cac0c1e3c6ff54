package wire

import (
	"bytes"
	"io"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

// chunkFrame is a CHUNK frame carrying a 1 MiB blob.
func chunkFrame() Frame {
	blob := bytes.Repeat([]byte("backupfs"), (1<<20)/8)
	return Frame{Type: TChunk, ID: 42, Payload: Chunk{Digest: catalog.Sum(blob), Blob: blob}.Append(nil)}
}

func BenchmarkWriteFrame(b *testing.B) {
	f := chunkFrame()
	var out bytes.Buffer
	out.Grow(HeaderSize + len(f.Payload))
	b.SetBytes(int64(HeaderSize + len(f.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		out.Reset() // a sink that copies, as a socket's kernel buffer does
		if err := WriteFrame(&out, f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteFrameSmall(b *testing.B) {
	f := Frame{Type: TMissing, ID: 42, Payload: Missing{Code: CodeNotFound}.Append(nil)}
	b.SetBytes(int64(HeaderSize + len(f.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteFrame(io.Discard, f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadFrame(b *testing.B) {
	benchmarkReadFrame(b, false)
}

// BenchmarkReadFrameBuf reads into one reused buffer, as a server does.
func BenchmarkReadFrameBuf(b *testing.B) {
	benchmarkReadFrame(b, true)
}

func benchmarkReadFrame(b *testing.B, reuse bool) {
	in := AppendFrame(nil, chunkFrame())
	r := bytes.NewReader(in)
	var buf []byte
	if reuse {
		buf = make([]byte, MaxPayload)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(in)
		f, err := ReadFrameBuf(r, buf)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeChunk(f.Payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeGetChunks(b *testing.B) {
	g := GetChunks{Digests: make([]catalog.Digest, MaxGetChunks)}
	for i := range g.Digests {
		g.Digests[i] = digestN(i)
	}
	p := g.Append(nil)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeGetChunks(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFileAssembler(b *testing.B) {
	data := make([]byte, 64<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		a := NewFileAssembler(MaxFileTotal)
		for fd, more := range FileParts(data, 0) {
			if _, err := a.Add(fd, more); err != nil {
				b.Fatal(err)
			}
		}
	}
}
