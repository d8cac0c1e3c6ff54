package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/backupfs/backupfs/catalog"
)

// decoder reads a payload field by field. The first failure sticks: later
// reads return zero values and err reports the first problem, so a decode
// function reads all its fields and checks once.
type decoder struct {
	b    []byte
	what string // the message, for error context
	err  error
}

func newDecoder(p []byte, what string) *decoder { return &decoder{b: p, what: what} }

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: %s", ErrProtocol, d.what, fmt.Sprintf(format, args...))
	}
}

// take returns the next n bytes, capacity-limited, or nil after a failure.
func (d *decoder) take(n int, field string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("%s: truncated: want %d bytes, have %d", field, n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) u8(field string) uint8 {
	if p := d.take(1, field); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u16(field string) uint16 {
	if p := d.take(2, field); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (d *decoder) u32(field string) uint32 {
	if p := d.take(4, field); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64(field string) uint64 {
	if p := d.take(8, field); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

func (d *decoder) i64(field string) int64 { return int64(d.u64(field)) }

// str reads a u16-length string of minLen..maxLen bytes.
func (d *decoder) str(field string, minLen, maxLen int) string {
	n := int(d.u16(field + " length"))
	if d.err != nil {
		return ""
	}
	if n < minLen || n > maxLen {
		d.fail("%s of %d bytes, want %d..%d", field, n, minLen, maxLen)
		return ""
	}
	return string(d.take(n, field))
}

func (d *decoder) digest(field string) catalog.Digest {
	var dg catalog.Digest
	copy(dg[:], d.take(catalog.DigestSize, field))
	return dg
}

// rest returns the remaining bytes (capacity-limited; nil if none).
func (d *decoder) rest() []byte {
	if d.err != nil || len(d.b) == 0 {
		return nil
	}
	return d.take(len(d.b), "")
}

// finish reports the first failure, or trailing bytes.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

func appendU16(dst []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(dst, v) }
func appendU32(dst []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(dst, v) }
func appendU64(dst []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(dst, v) }
func appendI64(dst []byte, v int64) []byte  { return appendU64(dst, uint64(v)) }

// appendStr appends s as a u16-length string, truncated to maxLen bytes
// (see the package doc: Append never fails).
func appendStr(dst []byte, s string, maxLen int) []byte {
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	dst = appendU16(dst, uint16(len(s)))
	return append(dst, s...)
}
