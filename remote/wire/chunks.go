package wire

import "github.com/backupfs/backupfs/catalog"

// GetChunks asks for chunks by digest (FlagDemand: a reader is blocked on
// them). The answer is one CHUNK or MISSING per digest, in any order.
//
//	0  2  count u16 (1..MaxGetChunks)
//	2  .. count x digest (32 bytes)
type GetChunks struct{ Digests []catalog.Digest }

// Append appends the payload encoding of g.
func (g GetChunks) Append(dst []byte) []byte {
	dst = appendU16(dst, uint16(len(g.Digests)))
	for i := range g.Digests {
		dst = append(dst, g.Digests[i][:]...)
	}
	return dst
}

// DecodeGetChunks decodes a GET_CHUNKS payload. The digests are copied
// into one new slice.
func DecodeGetChunks(p []byte) (GetChunks, error) {
	d := newDecoder(p, "GET_CHUNKS")
	n := int(d.u16("count"))
	if d.err == nil && (n < 1 || n > MaxGetChunks || n*catalog.DigestSize != len(d.b)) {
		d.fail("count %d: want 1..%d, and %d bytes each (%d left)", n, MaxGetChunks, catalog.DigestSize, len(d.b))
	}
	if d.err != nil {
		return GetChunks{}, d.err
	}
	g := GetChunks{Digests: make([]catalog.Digest, n)}
	for i := range g.Digests {
		copy(g.Digests[i][:], d.b[i*catalog.DigestSize:])
	}
	return g, nil
}

// Chunk answers one digest of a GET_CHUNKS.
//
//	0  32 digest
//	32 .. the blob exactly as stored (store/blob.go), the rest of the payload
type Chunk struct {
	Digest catalog.Digest
	Blob   []byte
}

// Append appends the payload encoding of c.
func (c Chunk) Append(dst []byte) []byte { return append(append(dst, c.Digest[:]...), c.Blob...) }

// DecodeChunk decodes a CHUNK payload; Blob aliases p. The blob is not
// checked here: store's blob decoder bounds and verifies it.
func DecodeChunk(p []byte) (Chunk, error) {
	c, err := decodeDigestBlob(p, "CHUNK")
	return Chunk(c), err
}

// UploadChunk uploads one chunk during a backup; the server answers ACK.
//
//	0  32 digest
//	32 .. blob (store/blob.go encoding, made by the client), the rest of the payload
type UploadChunk struct {
	Digest catalog.Digest
	Blob   []byte
}

// Append appends the payload encoding of u.
func (u UploadChunk) Append(dst []byte) []byte { return Chunk(u).Append(dst) }

// DecodeUploadChunk decodes an UPLOAD_CHUNK payload; Blob aliases p.
func DecodeUploadChunk(p []byte) (UploadChunk, error) {
	c, err := decodeDigestBlob(p, "UPLOAD_CHUNK")
	return UploadChunk(c), err
}

func decodeDigestBlob(p []byte, what string) (Chunk, error) {
	d := newDecoder(p, what)
	c := Chunk{Digest: d.digest("digest")}
	if d.err == nil && len(d.b) == 0 {
		d.fail("empty blob")
	}
	c.Blob = d.rest()
	if err := d.finish(); err != nil {
		return Chunk{}, err
	}
	return c, nil
}

// Missing answers one digest of a GET_CHUNKS that has no CHUNK.
//
//	0  32 digest
//	32 2  code u16 (NOT_FOUND, DENIED or CORRUPT; any non-zero code decodes)
type Missing struct {
	Digest catalog.Digest
	Code   Code
}

// Append appends the payload encoding of m.
func (m Missing) Append(dst []byte) []byte {
	return appendU16(append(dst, m.Digest[:]...), uint16(m.Code))
}

// DecodeMissing decodes a MISSING payload.
func DecodeMissing(p []byte) (Missing, error) {
	d := newDecoder(p, "MISSING")
	m := Missing{Digest: d.digest("digest"), Code: Code(d.u16("code"))}
	if d.err == nil && m.Code == 0 {
		d.fail("code 0")
	}
	if err := d.finish(); err != nil {
		return Missing{}, err
	}
	return m, nil
}
