package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/backupfs/backupfs/catalog"
	"github.com/klauspost/compress/zstd"
)

// Chunk blob layout. A chunk file holds exactly one blob; the network
// server sends blobs as stored and the client decodes them, so everything
// here is pure (no files, no globals beyond the shared zstd coders).
//
//	offset size meaning
//	0      4    magic "BFCB"
//	4      1    format version (BlobVersion = 1)
//	5      1    flags: bit 0 = payload is zstd; bit 1 = sealed (sealed.go);
//	            other bits must be zero
//	6      2    reserved, zero
//	8      4    plain length (u32, <= catalog.MaxChunkSize)
//	12     4    CRC32-C (Castagnoli) of bytes 0..11 followed by the payload
//	16     n    payload: the plain bytes (raw), or one zstd frame of them
//
// A raw payload is exactly plain length bytes. The CRC also covers the
// first 12 header bytes, so CheckBlob catches a flipped bit anywhere in the
// blob, including the flags and the length.
const (
	BlobHeaderSize = 16
	BlobVersion    = 1
	blobFlagZstd   = 1 << 0
	// MaxBlobSize bounds a blob: a payload is compressed only when that
	// makes it smaller, so no blob exceeds the raw form of the largest chunk.
	MaxBlobSize = BlobHeaderSize + catalog.MaxChunkSize
)

var blobMagic = [4]byte{'B', 'F', 'C', 'B'}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// BlobLevel is the zstd level chunks are compressed at. SpeedFastest was
// chosen by measurement (see the package doc's table): on source trees it
// compresses 2-2.5x faster than SpeedDefault for a datastore a few percent
// larger, and compression was the largest cost of a backup.
const BlobLevel = zstd.SpeedFastest

// Shared zstd coders; EncodeAll and DecodeAll are safe for concurrent use.
// The zstd frame checksum is off: the blob CRC and the SHA-256 cover it.
var (
	zenc    = newBlobEncoder(BlobLevel)
	zdec, _ = zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(catalog.MaxChunkSize),
		zstd.WithDecodeAllCapLimit(true))
)

// newBlobEncoder returns a shared encoder at level (benchmarks compare levels).
func newBlobEncoder(level zstd.EncoderLevel) *zstd.Encoder {
	enc, _ := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderCRC(false),
		zstd.WithEncoderConcurrency(0))
	return enc
}

// EncodeBlob returns the blob of a plain chunk: zstd when that is smaller,
// raw otherwise. It refuses chunks over catalog.MaxChunkSize.
func EncodeBlob(plain []byte) ([]byte, error) {
	return AppendBlob(make([]byte, 0, BlobHeaderSize+len(plain)), plain)
}

// AppendBlob appends the blob of plain to dst (as EncodeBlob), so a caller
// can encode into a pooled buffer or after a message header. zstd gives up
// early on incompressible input (its literal and block encoders fall back
// to raw), so random data costs little more than a copy.
func AppendBlob(dst, plain []byte) ([]byte, error) {
	return appendBlob(zenc, dst, plain)
}

func appendBlob(enc *zstd.Encoder, dst, plain []byte) ([]byte, error) {
	if len(plain) > catalog.MaxChunkSize {
		return dst, fmt.Errorf("store: encode blob: chunk of %d bytes, at most %d", len(plain), catalog.MaxChunkSize)
	}
	start := len(dst)
	out := append(dst, make([]byte, BlobHeaderSize)...)
	out = enc.EncodeAll(plain, out)
	flags := byte(blobFlagZstd)
	if len(out)-start-BlobHeaderSize >= len(plain) {
		out = append(out[:start+BlobHeaderSize], plain...)
		flags = 0
	}
	blob := out[start:]
	copy(blob[0:4], blobMagic[:])
	blob[4] = BlobVersion
	blob[5] = flags
	blob[6], blob[7] = 0, 0
	binary.LittleEndian.PutUint32(blob[8:12], uint32(len(plain)))
	binary.LittleEndian.PutUint32(blob[12:16], blobCRC(blob))
	return out, nil
}

// blobCRC is the checksum over header bytes 0..11 and the payload.
func blobCRC(blob []byte) uint32 {
	c := crc32.Update(0, crcTable, blob[:12])
	return crc32.Update(c, crcTable, blob[BlobHeaderSize:])
}

// blobHeader is a parsed, checked header.
type blobHeader struct {
	zstd     bool
	sealed   bool
	plainLen int
}

// BlobCompressed reports whether a blob starting with header (at least
// BlobHeaderSize bytes) has a zstd payload. Nothing is checked: it is a
// hint for choosing a buffer before the blob is read, which DecodeBlob
// and its kin then check.
func BlobCompressed(header []byte) bool {
	return len(header) >= BlobHeaderSize && header[5]&blobFlagZstd != 0
}

// CheckBlob checks a blob's header and CRC without decompressing it. It is
// cheap, for serving stored blobs; DecodeBlob checks everything.
func CheckBlob(blob []byte) error {
	_, err := checkBlob(blob)
	return err
}

func checkBlob(blob []byte) (blobHeader, error) {
	h, err := checkHeader(blob)
	if err != nil {
		return h, err
	}
	if got, want := blobCRC(blob), binary.LittleEndian.Uint32(blob[12:16]); got != want {
		return h, fmt.Errorf("%w: blob: crc %08x, header says %08x", ErrCorrupt, got, want)
	}
	return h, nil
}

// checkHeader is checkBlob without the CRC: the header's fields and their
// agreement with the payload length.
func checkHeader(blob []byte) (blobHeader, error) {
	var h blobHeader
	if len(blob) < BlobHeaderSize {
		return h, fmt.Errorf("%w: blob of %d bytes, shorter than its header", ErrCorrupt, len(blob))
	}
	if len(blob) > MaxBlobSize {
		return h, fmt.Errorf("%w: blob of %d bytes, at most %d", ErrCorrupt, len(blob), MaxBlobSize)
	}
	if !bytes.Equal(blob[0:4], blobMagic[:]) {
		return h, fmt.Errorf("%w: blob: bad magic %q", ErrCorrupt, blob[0:4])
	}
	if blob[4] != BlobVersion {
		return h, fmt.Errorf("%w: blob: version %d, this build reads %d", ErrCorrupt, blob[4], BlobVersion)
	}
	if blob[5]&^(blobFlagZstd|blobFlagSealed) != 0 || blob[6] != 0 || blob[7] != 0 {
		return h, fmt.Errorf("%w: blob: unknown flags %#x or reserved bytes set", ErrCorrupt, blob[5:8])
	}
	n := binary.LittleEndian.Uint32(blob[8:12])
	if n > catalog.MaxChunkSize {
		return h, fmt.Errorf("%w: blob: plain length %d, at most %d", ErrCorrupt, n, catalog.MaxChunkSize)
	}
	h = blobHeader{zstd: blob[5]&blobFlagZstd != 0, sealed: blob[5]&blobFlagSealed != 0, plainLen: int(n)}
	payload := len(blob) - BlobHeaderSize
	if h.sealed {
		payload -= sealOverhead // the inner payload's length
		if payload < 0 {
			return h, fmt.Errorf("%w: sealed blob: payload shorter than nonce and tag", ErrCorrupt)
		}
	}
	if !h.zstd && payload != h.plainLen {
		return h, fmt.Errorf("%w: blob: raw payload of %d bytes, header says %d", ErrCorrupt, payload, h.plainLen)
	}
	if h.zstd && payload >= h.plainLen {
		return h, fmt.Errorf("%w: blob: zstd payload of %d bytes not smaller than plain %d", ErrCorrupt, payload, h.plainLen)
	}
	return h, nil
}

// DecodeBlob checks a blob (header, CRC), decompresses it into at most the
// plain length the header gives, and checks the result's SHA-256 against
// want. Every failure wraps ErrCorrupt. The result never aliases blob.
func DecodeBlob(blob []byte, want catalog.Digest) ([]byte, error) {
	plain, err := decodeBlob(blob)
	if err != nil {
		return nil, err
	}
	if got := catalog.Sum(plain); got != want {
		return nil, fmt.Errorf("%w: blob: content has digest %s, want %s", ErrCorrupt, got, want)
	}
	return plain, nil
}

// DecodeBlobShared is DecodeBlob for a caller that owns blob and will not
// reuse it: a raw payload is checked and returned in place (the result
// aliases blob), so receiving a raw chunk costs no second allocation and
// no copy. A zstd payload is decompressed into a new slice, as DecodeBlob
// does, and blob is free to reuse afterwards (aliases reports which).
//
// It skips the CRC (~3% of the mount's CPU): the SHA-256 of the plain
// bytes it checks anyway is the stronger check. Every header field is
// still checked; one the CRC alone would catch either changes the plain
// bytes (flags, length: the digest or the length check fails) or does not
// matter (the CRC field itself). zstd decodes unchecked input bounded by
// the header's plain length, as it must for a hostile server anyway. What
// it accepts is exactly the chunk asked for.
func DecodeBlobShared(blob []byte, want catalog.Digest) (plain []byte, aliases bool, err error) {
	h, err := checkHeader(blob)
	if err != nil {
		return nil, false, err
	}
	if h.sealed {
		return nil, false, fmt.Errorf("chunk %s: %w", want, ErrSealed)
	}
	if h.zstd {
		plain, err = inflate(h, blob[BlobHeaderSize:])
		if err != nil {
			return nil, false, err
		}
	} else {
		plain, aliases = blob[BlobHeaderSize:], true
	}
	if got := catalog.Sum(plain); got != want {
		return nil, false, fmt.Errorf("%w: blob: content has digest %s, want %s", ErrCorrupt, got, want)
	}
	return plain, aliases, nil
}

// decodeBlob is DecodeBlob without the digest check. A sealed blob is
// checked (header, CRC) and then ErrSealed.
func decodeBlob(blob []byte) ([]byte, error) {
	h, err := checkBlob(blob)
	if err != nil {
		return nil, err
	}
	if h.sealed {
		return nil, ErrSealed
	}
	payload := blob[BlobHeaderSize:]
	if !h.zstd {
		return append(make([]byte, 0, len(payload)), payload...), nil
	}
	return inflate(h, payload)
}

// zstdSlack is room left after a chunk's plain bytes when it is
// decompressed: klauspost/compress decodes a block with its fast copies
// (which may write up to 16 bytes past the block's end) only when the
// output has that room, and a buffer of exactly the plain length sent
// every block of a 128 KiB chunk, which is one block, through its slower
// safe copies.
const zstdSlack = 64

// inflate decompresses a checked zstd payload into a new slice of exactly
// the plain length the header gives.
func inflate(h blobHeader, payload []byte) ([]byte, error) {
	plain, err := zdec.DecodeAll(payload, make([]byte, 0, h.plainLen+zstdSlack))
	if err != nil {
		return nil, fmt.Errorf("%w: blob: zstd: %v", ErrCorrupt, err)
	}
	if len(plain) != h.plainLen {
		return nil, fmt.Errorf("%w: blob: zstd gave %d bytes, header says %d", ErrCorrupt, len(plain), h.plainLen)
	}
	return plain, nil
}

// VerifyBlob checks a blob as DecodeBlob does (header, CRC, decompression,
// SHA-256 against want) without returning the plain bytes: a raw payload
// is hashed in place and a zstd one is decompressed into a pooled buffer.
// The server runs it on every uploaded chunk. A sealed blob is checked
// by its header and CRC only: its plain bytes and id need the key.
func VerifyBlob(blob []byte, want catalog.Digest) error {
	h, err := checkBlob(blob)
	if err != nil || h.sealed {
		return err
	}
	payload := blob[BlobHeaderSize:]
	if h.zstd {
		bp := plainBufs.Get(h.plainLen + zstdSlack)
		defer plainBufs.Put(bp)
		plain, err := zdec.DecodeAll(payload, (*bp)[:0])
		if err != nil {
			return fmt.Errorf("%w: blob: zstd: %v", ErrCorrupt, err)
		}
		if len(plain) != h.plainLen {
			return fmt.Errorf("%w: blob: zstd gave %d bytes, header says %d", ErrCorrupt, len(plain), h.plainLen)
		}
		payload = plain
	}
	if got := catalog.Sum(payload); got != want {
		return fmt.Errorf("%w: blob: content has digest %s, want %s", ErrCorrupt, got, want)
	}
	return nil
}

// plainBufs pools VerifyBlob's decompression buffers.
var plainBufs BufPool
