package wire

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the generated seed corpora under testdata/fuzz")

// TestWriteSeeds writes the fuzz seed corpora from the test tables:
//
//	go test ./remote/wire -run TestWriteSeeds -args -write-seeds
//
// Files named crash-* (found crashers) are never touched.
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("needs -write-seeds")
	}
	var stream []byte
	for _, s := range samples {
		ft := sampleType(s.decoder)
		fr := Frame{Type: ft, ID: 1, Payload: s.m.Append(nil)}
		writeSeed(t, "FuzzReadFrame", "frame-"+s.decoder, [][]byte{AppendFrame(nil, fr)})
		stream = AppendFrame(stream, fr)
		writeSeed(t, "FuzzDecodeMessages", "ok-"+s.decoder, [][]byte{append([]byte{decoderIndex(s.decoder)}, fr.Payload...)})
	}
	writeSeed(t, "FuzzReadFrame", "stream", [][]byte{stream})
	writeSeed(t, "FuzzReadFrame", "bad-4GiB", [][]byte{header(TChunk, 0, 0, 1, 0xffffffff)})
	writeSeed(t, "FuzzReadFrame", "bad-flags", [][]byte{header(TPing, FlagMore, 0, 1, 0)})
	writeSeed(t, "FuzzReadFrame", "bad-reserved", [][]byte{header(TPing, 0, 1, 1, 0)})
	writeSeed(t, "FuzzReadFrame", "short-payload", [][]byte{append(header(TPing, 0, 0, 1, 8), 1, 2)})
	for i, m := range malformed {
		if len(m.p) > 4096 {
			continue
		}
		writeSeed(t, "FuzzDecodeMessages", fmt.Sprintf("bad-%02d", i), [][]byte{append([]byte{decoderIndex(m.decoder)}, m.p...)})
	}
	scripts := map[string][][]int{
		"ok-three":       {{6, 0, 2, 1}, {6, 2, 2, 1}, {6, 4, 2, 0}},
		"ok-empty":       {{0, 0, 0, 0}},
		"too-large":      {{60000, 0, 10, 1}},
		"gap":            {{10, 0, 4, 1}, {10, 5, 5, 0}},
		"after-last":     {{2, 0, 2, 0}, {2, 2, 0, 0}},
		"total-changed":  {{10, 0, 4, 1}, {11, 4, 7, 0}},
		"past-total":     {{3, 0, 4, 0}},
		"last-too-short": {{8, 0, 4, 0}},
	}
	for name, recs := range scripts {
		var script []byte
		for _, r := range recs {
			script = binary.LittleEndian.AppendUint16(script, uint16(r[0]))
			script = binary.LittleEndian.AppendUint16(script, uint16(r[1]))
			script = append(script, byte(r[2]), byte(r[3]))
		}
		writeSeed(t, "FuzzFileAssembler", name, []any{uint16(100), script})
	}
}

func sampleType(decoder string) Type {
	for ft, name := range frameDecoders {
		if name == decoder && (ft != TPong && ft != TCancel && ft != TListGroups && ft != TBackupAbort) {
			return ft
		}
	}
	if decoder == "ServerHello" {
		return THello
	}
	panic(decoder)
}

func writeSeed[T any](t *testing.T, target, name string, args []T) {
	t.Helper()
	body := "go test fuzz v1\n"
	for _, a := range args {
		switch v := any(a).(type) {
		case []byte:
			body += fmt.Sprintf("[]byte(%q)\n", v)
		case uint16:
			body += fmt.Sprintf("uint16(%d)\n", v)
		default:
			t.Fatalf("seed argument of type %T", a)
		}
	}
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
