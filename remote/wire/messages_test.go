package wire

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/backupfs/backupfs/catalog"
)

// appender is what every message implements.
type appender interface{ Append(dst []byte) []byte }

// empty stands for the payload of GOODBYE, CANCEL, LIST_GROUPS, BACKUP_ABORT.
type empty struct{}

func (empty) Append(dst []byte) []byte { return dst }

func wrap[M appender](dec func([]byte) (M, error)) func([]byte) (appender, error) {
	return func(p []byte) (appender, error) {
		m, err := dec(p)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
}

// decoders lists every message decoder; FuzzDecodeMessages dispatches by
// its first byte into this list.
var decoders = []struct {
	name   string
	decode func([]byte) (appender, error)
}{
	{"ClientHello", wrap(DecodeClientHello)},
	{"ServerHello", wrap(DecodeServerHello)},
	{"Error", wrap(DecodeError)},
	{"Ping", wrap(DecodePing)},
	{"Empty", func(p []byte) (appender, error) { return empty{}, DecodeEmpty(TGoodbye, p) }},
	{"Groups", wrap(DecodeGroups)},
	{"ListSnapshots", wrap(DecodeListSnapshots)},
	{"Snapshots", wrap(DecodeSnapshots)},
	{"GetFile", wrap(DecodeGetFile)},
	{"FileData", wrap(DecodeFileData)},
	{"GetChunks", wrap(DecodeGetChunks)},
	{"Chunk", wrap(DecodeChunk)},
	{"Missing", wrap(DecodeMissing)},
	{"BackupBegin", wrap(DecodeBackupBegin)},
	{"BackupReady", wrap(DecodeBackupReady)},
	{"UploadChunk", wrap(DecodeUploadChunk)},
	{"Ack", wrap(DecodeAck)},
	{"UploadFile", wrap(DecodeUploadFile)},
	{"BackupFinish", wrap(DecodeBackupFinish)},
	{"QueryChunks", wrap(DecodeQueryChunks)},
	{"KnownChunks", wrap(DecodeKnownChunks)},
	{"Admin", wrap(DecodeAdmin)},
	{"AdminOutput", wrap(DecodeAdminOutput)},
	{"Push", wrap(DecodePush)},
	{"PushResult", wrap(DecodePushResult)},
}

func decoderIndex(name string) byte {
	for i, d := range decoders {
		if d.name == name {
			return byte(i)
		}
	}
	panic("no decoder " + name)
}

func digestN(i int) catalog.Digest { return catalog.Sum([]byte{byte(i), byte(i >> 8)}) }

// samples are valid messages, one or more per decoder; they are the round
// trip table and the fuzz seeds.
var samples = []struct {
	decoder string
	m       appender
}{
	{"ClientHello", ClientHello{Version: Version, Features: 5, Token: "s3cret-token"}},
	{"ClientHello", ClientHello{Version: Version, Token: strings.Repeat("t", MaxTokenLen)}},
	{"ServerHello", ServerHello{Version: Version, Name: "backup1.example"}},
	{"ServerHello", ServerHello{Version: Version, Features: 0xffffffff}},
	{"Error", Error{Code: CodeNotFound, Message: "no group vm/7"}},
	{"Error", Error{Code: CodeBusy}},
	{"Error", Error{Code: Code(4242), Message: "a code from the future"}},
	{"Ping", Ping{Nonce: 0x0102030405060708}},
	{"Empty", empty{}},
	{"Groups", Groups{Groups: []string{"vm/100", "ct/web", "host/" + strings.Repeat("h", 128)}}},
	{"Groups", Groups{Groups: []string{}}},
	{"ListSnapshots", ListSnapshots{Group: "vm/100"}},
	{"Snapshots", Snapshots{Times: []int64{1, 1763800000, 1763803600}}},
	{"Snapshots", Snapshots{Times: []int64{}}},
	{"GetFile", GetFile{Group: "vm/100", Time: 1763800000, Name: "manifest.json"}},
	{"FileData", FileData{Total: 10, Offset: 4, Data: []byte("456789")}},
	{"FileData", FileData{Total: 1 << 40, Offset: 1 << 39}},
	{"GetChunks", GetChunks{Digests: []catalog.Digest{digestN(1)}}},
	{"GetChunks", GetChunks{Digests: []catalog.Digest{digestN(1), digestN(2), digestN(3)}}},
	{"Chunk", Chunk{Digest: digestN(4), Blob: []byte("BFCB blob bytes")}},
	{"Missing", Missing{Digest: digestN(5), Code: CodeDenied}},
	{"BackupBegin", BackupBegin{Group: "host/a", Time: -1}},
	{"BackupReady", BackupReady{Previous: 1763800000}},
	{"BackupReady", BackupReady{}},
	{"BackupReady", BackupReady{Previous: 7, Lacking: []catalog.Digest{digestN(8), digestN(9)}, Note: "base index damaged"}},
	{"BackupReady", BackupReady{Note: "no base: its index file x.fidx is corrupt"}},
	{"UploadChunk", UploadChunk{Digest: digestN(6), Blob: []byte{1}}},
	{"Ack", Ack{New: true}},
	{"Ack", Ack{}},
	{"UploadFile", UploadFile{Name: "root.tree.didx", FileData: FileData{Total: 3, Data: []byte("abc")}}},
	{"BackupFinish", BackupFinish{Manifest: []byte(`{"archives":[]}`)}},
	{"QueryChunks", QueryChunks{Digests: []catalog.Digest{digestN(10), digestN(11)}}},
	{"KnownChunks", KnownChunks{Known: []bool{true}}},
	{"KnownChunks", KnownChunks{Known: []bool{false, true, false, false, true, false, false, false, true, true}}},
	{"KnownChunks", KnownChunks{Known: make([]bool, 16)}},
	{"Admin", Admin{Op: AdminGC, GraceS: -1}},
	{"Admin", Admin{Op: AdminVerify, Group: "vm/1", Outdated: 30 * 86400}},
	{"Admin", Admin{Op: AdminTag, Group: "vm/1", Time: 1763800000, SetNote: true, Note: "before the upgrade", AddTags: "weekly,keep", DelTags: "daily"}},
	{"Admin", Admin{Op: AdminPrune, Group: "vm/100", DryRun: true, Keep: [6]uint32{3, 0, 7, 4, 0, 1}, Within: 86400}},
	{"Admin", Admin{Op: AdminForget, Group: "host/a", Time: 1763800000}},
	{"AdminOutput", AdminOutput{Line: "verified 3 snapshots"}},
	{"AdminOutput", AdminOutput{Exit: 1}},
	{"Push", Push{}},
	{"Push", Push{Type: "vm", Patterns: []string{"vm/1*", "vm/2"}, TransferLast: 3, RemoveVanished: true}},
	{"Push", Push{Type: "host", ID: "web1"}},
	{"PushResult", PushResult{Groups: 2, Snapshots: 3, Skipped: 1, Chunks: 1 << 33, Bytes: 1 << 40, Present: 7}},
	{"PushResult", PushResult{Code: CodeDenied, Message: "token \"pusher\" may not write vm/7 (needs backup:vm/7)", Groups: 1}},
}

func TestMessageRoundTrip(t *testing.T) {
	for i, s := range samples {
		p := s.m.Append([]byte("prefix"))
		if !bytes.HasPrefix(p, []byte("prefix")) {
			t.Fatalf("sample %d (%s): Append lost dst", i, s.decoder)
		}
		p = p[len("prefix"):]
		got, err := decoders[decoderIndex(s.decoder)].decode(p)
		if err != nil {
			t.Fatalf("sample %d (%s): %v", i, s.decoder, err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(s.m)) {
			t.Fatalf("sample %d (%s): got %+v, want %+v", i, s.decoder, got, s.m)
		}
	}
}

// normalize maps empty slices to nil so DeepEqual compares contents.
func normalize(m appender) appender {
	switch v := m.(type) {
	case FileData:
		if len(v.Data) == 0 {
			v.Data = nil
		}
		return v
	case Groups:
		if len(v.Groups) == 0 {
			v.Groups = nil
		}
		return v
	case Snapshots:
		if len(v.Times) == 0 {
			v.Times = nil
		}
		return v
	}
	return m
}

// Byte slices in decoded messages alias the payload but cannot be appended
// over it.
func TestDecodedSlicesCapped(t *testing.T) {
	p := Chunk{Digest: digestN(1), Blob: []byte("xy")}.Append(nil)
	p = append(p, "tail"...)[:len(p)]
	c, err := DecodeChunk(p)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(c.Blob, 'Z')
	if string(p[:cap(p)][len(p):len(p)+4]) != "tail" {
		t.Fatal("append to a decoded blob overwrote the buffer")
	}
}

func TestHelloVersionMismatch(t *testing.T) {
	p := ClientHello{Version: Version + 1, Token: "t"}.Append(nil)
	h, err := DecodeClientHello(p)
	if !errors.Is(err, ErrVersion) || errors.Is(err, ErrProtocol) {
		t.Fatalf("got %v, want ErrVersion only", err)
	}
	if want := fmt.Sprintf("protocol %d", Version+1); h.Version != Version+1 || !strings.Contains(err.Error(), want) {
		t.Fatalf("version %d, error %q: want both versions named", h.Version, err)
	}
	// Only magic and version are read: a v2 hello may be laid out differently.
	s, err := DecodeServerHello(append([]byte(Magic), 7, 0))
	if !errors.Is(err, ErrVersion) || s.Version != 7 {
		t.Fatalf("server hello: %+v, %v", s, err)
	}
}

// Append never fails and never writes what the decoder refuses for an
// over-long string: it truncates to the field's bound.
func TestAppendTruncatesStrings(t *testing.T) {
	e, err := DecodeError(Error{Code: CodeGeneric, Message: strings.Repeat("m", 70000)}.Append(nil))
	if err != nil || len(e.Message) != MaxMessageLen {
		t.Fatalf("message of %d bytes, %v", len(e.Message), err)
	}
	h, err := DecodeClientHello(ClientHello{Version: Version, Token: strings.Repeat("t", MaxTokenLen+1)}.Append(nil))
	if err != nil || len(h.Token) != MaxTokenLen {
		t.Fatalf("token of %d bytes, %v", len(h.Token), err)
	}
}
