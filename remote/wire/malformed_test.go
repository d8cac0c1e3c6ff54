package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
)

func le16(v int) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }
func le32(v int) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }
func le64(v int64) []byte {
	return binary.LittleEndian.AppendUint64(nil, uint64(v))
}
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
func str(s string) []byte        { return cat(le16(len(s)), []byte(s)) }
func zeros(n int) []byte         { return make([]byte, n) }

var hello = cat([]byte(Magic), le16(Version), le32(0))

// malformed lists payloads every decoder must refuse with ErrProtocol.
var malformed = []struct {
	decoder string
	name    string
	p       []byte
}{
	{"ClientHello", "empty", nil},
	{"ClientHello", "bad magic", cat([]byte("BFSQ"), le16(Version), le32(0), str(""))},
	{"ClientHello", "truncated version", []byte("BFSP\x01")},
	{"ClientHello", "no token", hello},
	{"ClientHello", "token too long", cat(hello, str(strings.Repeat("t", MaxTokenLen+1)))},
	{"ClientHello", "token truncated", cat(hello, le16(5), []byte("abc"))},
	{"ClientHello", "trailing", cat(hello, str("t"), []byte{0})},
	{"ServerHello", "name too long", cat(hello, str(strings.Repeat("n", MaxServerNameLen+1)))},
	{"Error", "code 0", cat(le16(0), str("x"))},
	{"Error", "message too long", cat(le16(1), str(strings.Repeat("m", MaxMessageLen+1)))},
	{"Error", "truncated", le16(1)},
	{"Ping", "short", zeros(7)},
	{"Ping", "trailing", zeros(9)},
	{"Empty", "one byte", zeros(1)},
	{"Groups", "empty", nil},
	{"Groups", "count over max", cat(le32(MaxGroups+1), bytes.Repeat(str("vm/1"), MaxGroups+1))},
	{"Groups", "count 4G, no data", le32(0xffffffff)},
	{"Groups", "count beyond payload", cat(le32(3), str("vm/1"))},
	{"Groups", "empty group", cat(le32(1), str(""), zeros(1))},
	{"Groups", "group too long", cat(le32(1), str(strings.Repeat("g", MaxGroupLen+1)))},
	{"Groups", "trailing", cat(le32(1), str("vm/1"), zeros(1))},
	{"ListSnapshots", "empty group", str("")},
	{"ListSnapshots", "trailing", cat(str("vm/1"), zeros(1))},
	{"Snapshots", "count over max", cat(le32(MaxSnapshots+1), zeros(8*(MaxSnapshots+1)))},
	{"Snapshots", "count 4G", le32(0xffffffff)},
	{"Snapshots", "short", cat(le32(2), le64(1))},
	{"Snapshots", "trailing", cat(le32(1), le64(1), zeros(1))},
	{"Snapshots", "not increasing", cat(le32(2), le64(5), le64(5))},
	{"Snapshots", "newest first", cat(le32(2), le64(6), le64(5))},
	{"GetFile", "no name", cat(str("vm/1"), le64(1))},
	{"GetFile", "empty name", cat(str("vm/1"), le64(1), str(""))},
	{"GetFile", "name too long", cat(str("vm/1"), le64(1), str(strings.Repeat("n", MaxFileNameLen+1)))},
	{"FileData", "short", zeros(15)},
	{"FileData", "offset past total", cat(le64(4), le64(5))},
	{"FileData", "data past total", cat(le64(4), le64(2), []byte("abc"))},
	{"FileData", "offset overflow", cat(le64(-1), le64(-1), []byte("a"))},
	{"GetChunks", "empty", nil},
	{"GetChunks", "count 0", le16(0)},
	{"GetChunks", "count over max", cat(le16(MaxGetChunks+1), zeros(32*(MaxGetChunks+1)))},
	{"GetChunks", "count 65535, one digest", cat(le16(65535), zeros(32))},
	{"GetChunks", "short digest", cat(le16(1), zeros(31))},
	{"GetChunks", "trailing", cat(le16(1), zeros(33))},
	{"Chunk", "short digest", zeros(31)},
	{"Chunk", "no blob", zeros(32)},
	{"UploadChunk", "no blob", zeros(32)},
	{"Missing", "code 0", cat(zeros(32), le16(0))},
	{"Missing", "short", cat(zeros(32), []byte{3})},
	{"Missing", "trailing", cat(zeros(32), le16(3), zeros(1))},
	{"BackupBegin", "empty group", cat(str(""), le64(1))},
	{"BackupBegin", "short time", cat(str("vm/1"), zeros(7))},
	{"BackupReady", "short", zeros(7)},
	{"BackupReady", "v1 layout (time only)", le64(5)},
	{"BackupReady", "lacking count 4G, nothing after", cat(le64(5), []byte{0xff, 0xff, 0xff, 0xff})},
	{"BackupReady", "lacking over max", cat(le64(5), le32(MaxLacking+1), zeros(32*(MaxLacking+1)), str(""))},
	{"BackupReady", "lacking without previous", cat(le64(0), le32(1), zeros(32), str(""))},
	{"BackupReady", "short digest", cat(le64(5), le32(1), zeros(31))},
	{"BackupReady", "note too long", cat(le64(5), le32(0), str(strings.Repeat("n", MaxMessageLen+1)))},
	{"BackupReady", "trailing", cat(le64(5), le32(0), str(""), zeros(1))},
	{"Ack", "empty", nil},
	{"Ack", "unknown flag", []byte{2}},
	{"Ack", "trailing", []byte{1, 0}},
	{"UploadFile", "empty name", cat(str(""), le64(1), le64(0), []byte("a"))},
	{"UploadFile", "data past total", cat(str("a.fidx"), le64(1), le64(0), []byte("ab"))},
	{"UploadFile", "no file data", str("a.fidx")},
	{"BackupFinish", "empty", nil},
	{"BackupFinish", "too large", zeros(MaxManifest + 1)},
	{"QueryChunks", "empty", nil},
	{"QueryChunks", "count 0", le16(0)},
	{"QueryChunks", "count over max", cat(le16(MaxQueryChunks+1), zeros(32*(MaxQueryChunks+1)))},
	{"QueryChunks", "short digest", cat(le16(1), zeros(31))},
	{"QueryChunks", "trailing", cat(le16(1), zeros(33))},
	{"KnownChunks", "empty", nil},
	{"KnownChunks", "count 0", le16(0)},
	{"KnownChunks", "count over max", cat(le16(MaxQueryChunks+1), zeros((MaxQueryChunks+8)/8))},
	{"KnownChunks", "no bits", le16(3)},
	{"KnownChunks", "too many bit bytes", cat(le16(8), zeros(2))},
	{"KnownChunks", "bit past count", cat(le16(3), []byte{0x08})},
	{"KnownChunks", "bit past count, full byte", cat(le16(9), []byte{0, 0x02})},
	{"Admin", "empty", nil},
	{"Admin", "unknown op", cat(str("format"), str(""), le64(0), []byte{0}, zeros(24), le64(0), le64(0), le64(0), str(""), str(""), str(""))},
	{"Admin", "unknown flag", cat(str("gc"), str(""), le64(0), []byte{4}, zeros(24), le64(0), le64(0), le64(0), str(""), str(""), str(""))},
	{"Admin", "truncated", cat(str("gc"), str(""), le64(0), []byte{0}, zeros(24), le64(0), le64(0), le64(0), str(""))},
	{"Admin", "trailing", cat(str("gc"), str(""), le64(0), []byte{0}, zeros(24), le64(0), le64(0), le64(0), str(""), str(""), str(""), []byte{0})},
	{"Admin", "note too long", cat(str("tag"), str("vm/1"), le64(1), []byte{2}, zeros(24), le64(0), le64(0), le64(0), str(strings.Repeat("n", 1025)), str(""), str(""))},
	{"AdminOutput", "line too long", cat([]byte{0}, str(strings.Repeat("x", MaxAdminLine+1)))},
	{"AdminOutput", "trailing", cat([]byte{0}, str("x"), []byte{0})},
	{"Push", "empty", nil},
	{"Push", "type too long", cat(str(strings.Repeat("v", MaxPushTypeLen+1)), str(""), le16(0), le32(0), []byte{0})},
	{"Push", "pattern count over max", cat(str(""), str(""), le16(MaxPushPatterns+1), bytes.Repeat(str("*"), MaxPushPatterns+1), le32(0), []byte{0})},
	{"Push", "pattern count past payload", cat(str(""), str(""), le16(60000), str("*"), le32(0), []byte{0})},
	{"Push", "empty pattern", cat(str(""), str(""), le16(1), str(""), le32(0), []byte{0})},
	{"Push", "unknown flag", cat(str(""), str(""), le16(0), le32(0), []byte{2})},
	{"Push", "trailing", cat(str(""), str(""), le16(0), le32(0), []byte{0, 0})},
	{"PushResult", "empty", nil},
	{"PushResult", "message too long", cat(le16(1), str(strings.Repeat("m", MaxMessageLen+1)), zeros(16+24))},
	{"PushResult", "truncated counts", cat(le16(0), str(""), zeros(16+23))},
}

func TestDecodeMalformed(t *testing.T) {
	for _, tt := range malformed {
		t.Run(tt.decoder+"/"+tt.name, func(t *testing.T) {
			m, err := decoders[decoderIndex(tt.decoder)].decode(tt.p)
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("got %+v, %v; want ErrProtocol", m, err)
			}
		})
	}
}

// Every valid sample, cut short anywhere, must be refused; so must every
// sample with a byte appended.
func TestDecodeTruncatedAndTrailing(t *testing.T) {
	for _, s := range samples {
		p := s.m.Append(nil)
		dec := decoders[decoderIndex(s.decoder)].decode
		for n := range len(p) {
			if endsWithRest(s.decoder) {
				break // these end with "the rest of the payload": a cut may still decode
			}
			if _, err := dec(p[:n]); !errors.Is(err, ErrProtocol) {
				t.Fatalf("%s cut to %d of %d bytes: %v", s.decoder, n, len(p), err)
			}
		}
		if _, err := dec(append(p, 0)); err == nil && !endsWithRest(s.decoder) {
			t.Fatalf("%s with a trailing byte decoded", s.decoder)
		}
	}
}

func endsWithRest(name string) bool {
	switch name {
	case "Chunk", "UploadChunk", "BackupFinish", "FileData", "UploadFile":
		return true
	}
	return false
}

// A GET_CHUNKS or GROUPS claiming a huge count must not allocate for it.
func TestDecodeHugeCountsNoAlloc(t *testing.T) {
	tests := []struct {
		name string
		dec  func([]byte) (appender, error)
		p    []byte
	}{
		{"groups", decoders[decoderIndex("Groups")].decode, le32(0xffffffff)},
		{"snapshots", decoders[decoderIndex("Snapshots")].decode, le32(MaxSnapshots)},
		{"get chunks", decoders[decoderIndex("GetChunks")].decode, le16(MaxGetChunks)},
	}
	for _, tt := range tests {
		n := allocatedBytes(20, func() {
			if _, err := tt.dec(tt.p); err == nil {
				t.Fatal("decoded")
			}
		})
		if n > 4<<10 { // the error value and its message only
			t.Errorf("%s: %d bytes allocated per refused payload", tt.name, n)
		}
	}
}

// allocatedBytes returns the bytes f allocates per run, on average.
func allocatedBytes(runs int, f func()) uint64 {
	f() // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}
