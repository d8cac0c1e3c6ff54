package wire

import "github.com/backupfs/backupfs/catalog"

// MaxQueryChunks bounds the digests of one QUERY_CHUNKS.
const MaxQueryChunks = 4096

// QueryChunks asks, during a backup, which of these chunks the datastore
// holds among the chunks of the groups the token may read (version 3).
// The answer is KNOWN_CHUNKS; the chunks it names become usable in the
// backup without upload.
//
//	0  2  count u16 (1..MaxQueryChunks)
//	2  .. count x digest (32 bytes)
type QueryChunks struct{ Digests []catalog.Digest }

// Append appends the payload encoding of q.
func (q QueryChunks) Append(dst []byte) []byte { return GetChunks(q).Append(dst) }

// DecodeQueryChunks decodes a QUERY_CHUNKS payload.
func DecodeQueryChunks(p []byte) (QueryChunks, error) {
	d := newDecoder(p, "QUERY_CHUNKS")
	n := int(d.u16("count"))
	if d.err == nil && (n < 1 || n > MaxQueryChunks || n*catalog.DigestSize != len(d.b)) {
		d.fail("count %d: want 1..%d, and %d bytes each (%d left)", n, MaxQueryChunks, catalog.DigestSize, len(d.b))
	}
	if d.err != nil {
		return QueryChunks{}, d.err
	}
	q := QueryChunks{Digests: make([]catalog.Digest, n)}
	for i := range q.Digests {
		copy(q.Digests[i][:], d.b[i*catalog.DigestSize:])
	}
	return q, nil
}

// KnownChunks answers a QUERY_CHUNKS, one bit per digest asked, in order:
// bit i%8 of byte i/8 is set when digest i is held and readable.
//
//	0  2  count u16 (1..MaxQueryChunks, the query's count)
//	2  .. ceil(count/8) bytes; the bits past count are zero
type KnownChunks struct{ Known []bool }

// Append appends the payload encoding of k.
func (k KnownChunks) Append(dst []byte) []byte {
	dst = appendU16(dst, uint16(len(k.Known)))
	bits := make([]byte, (len(k.Known)+7)/8)
	for i, ok := range k.Known {
		if ok {
			bits[i/8] |= 1 << (i % 8)
		}
	}
	return append(dst, bits...)
}

// DecodeKnownChunks decodes a KNOWN_CHUNKS payload.
func DecodeKnownChunks(p []byte) (KnownChunks, error) {
	d := newDecoder(p, "KNOWN_CHUNKS")
	n := int(d.u16("count"))
	if d.err == nil && (n < 1 || n > MaxQueryChunks || len(d.b) != (n+7)/8) {
		d.fail("count %d: want 1..%d and %d bytes of bits (%d left)", n, MaxQueryChunks, (n+7)/8, len(d.b))
	}
	if d.err == nil && n%8 != 0 && d.b[len(d.b)-1]>>(n%8) != 0 {
		d.fail("bits set past count %d", n)
	}
	if d.err != nil {
		return KnownChunks{}, d.err
	}
	k := KnownChunks{Known: make([]bool, n)}
	for i := range k.Known {
		k.Known[i] = d.b[i/8]&(1<<(i%8)) != 0
	}
	return k, nil
}
