package client

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// frameReader reads the client's answer frames and picks, per CHUNK, the
// buffer its payload goes into by looking at the blob's header first:
//
//   - a raw blob is read into a buffer of its own, exactly sized: its plain
//     bytes are checked in place (store.DecodeBlobShared) and that buffer
//     becomes the cache's copy of the chunk, with no second allocation and
//     no copy;
//   - a zstd blob is read into a frameBufs buffer, which goes back to the
//     pool once the chunk is decompressed into the buffer the cache keeps.
//
// Every other frame is read as wire.ReadFrame reads it. The peeked bytes
// are handed to wire.ReadFrameBuf ahead of the connection, which still
// validates the header before the payload is read.
type frameReader struct {
	r    io.Reader
	pre  [wire.HeaderSize + chunkPeek]byte
	left []byte // peeked bytes not yet handed to ReadFrameBuf
}

// frameBufs holds the buffers zstd CHUNK payloads are received into.
var frameBufs wire.BufPool

// chunkPeek is how much of a CHUNK payload is read ahead: the digest and
// the blob header.
const chunkPeek = catalog.DigestSize + store.BlobHeaderSize

// next reads one frame; buf is set when its payload is a frameBufs buffer.
func (fr *frameReader) next() (f wire.Frame, buf *[]byte, err error) {
	if _, err := io.ReadFull(fr.r, fr.pre[:wire.HeaderSize]); err != nil {
		if err == io.EOF {
			return f, nil, io.EOF // as wire.ReadFrame: no frame started
		}
		return f, nil, fmt.Errorf("wire: read frame header: %w", err)
	}
	fr.left = fr.pre[:wire.HeaderSize]
	n := int(binary.LittleEndian.Uint32(fr.pre[8:wire.HeaderSize]))
	var dst []byte
	if wire.Type(fr.pre[0]) == wire.TChunk && n >= chunkPeek && n <= catalog.DigestSize+store.MaxBlobSize {
		if _, err := io.ReadFull(fr.r, fr.pre[wire.HeaderSize:]); err != nil {
			return f, nil, err
		}
		fr.left = fr.pre[:]
		if store.BlobCompressed(fr.pre[wire.HeaderSize+catalog.DigestSize:]) {
			buf = frameBufs.Get(n)
			dst = (*buf)[:0]
		}
	}
	f, err = wire.ReadFrameBuf(fr, dst)
	if err != nil && buf != nil {
		frameBufs.Put(buf)
		buf = nil
	}
	if buf != nil && (len(f.Payload) == 0 || &f.Payload[0] != &(*buf)[0]) {
		frameBufs.Put(buf) // not read into it after all
		buf = nil
	}
	return f, buf, err
}

// Read hands out the peeked bytes first, then reads the connection.
func (fr *frameReader) Read(p []byte) (int, error) {
	if len(fr.left) > 0 {
		n := copy(p, fr.left)
		fr.left = fr.left[n:]
		return n, nil
	}
	return fr.r.Read(p)
}
