package chunker

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/backupfs/backupfs/catalog"
)

// small keeps streams short while exercising every phase of the scanner.
var small = Params{Min: 64, Avg: 256, Max: 1024}

// randBytes returns n pseudo-random bytes, the same for the same seed.
func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := i; j < min(i+8, n); j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
	return b
}

// textBytes returns n bytes of low-entropy, repetitive text.
func textBytes(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d: the quick brown fox %d jumps\n", i, i%97)
	}
	return b.Bytes()[:n]
}

// chunks cuts data with a Writer fed by pieces and returns copies of the chunks.
func chunks(t testing.TB, p Params, data []byte, pieces func(int) int) [][]byte {
	t.Helper()
	var out [][]byte
	w, err := NewWriter(p, func(c []byte) error {
		out = append(out, bytes.Clone(c))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for b := data; len(b) > 0; {
		n := min(pieces(len(b)), len(b))
		if _, err := w.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func all(n int) int { return n }

// checkChunks verifies bounds and that the chunks concatenate to data.
func checkChunks(t *testing.T, p Params, data []byte, cs [][]byte) {
	t.Helper()
	for i, c := range cs {
		last := i == len(cs)-1
		if len(c) > p.Max || len(c) == 0 || (!last && len(c) < p.Min) {
			t.Fatalf("chunk %d/%d: %d bytes, want [%d, %d]", i, len(cs), len(c), p.Min, p.Max)
		}
	}
	if got := bytes.Join(cs, nil); !bytes.Equal(got, data) {
		t.Fatalf("chunks concatenate to %d bytes, not the %d-byte input", len(got), len(data))
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		p  Params
		ok bool
	}{
		{DefaultParams, true},
		{small, true},
		{Params{1, 64, 65}, true},
		{Params{1 << 20, 2 << 20, catalog.MaxChunkSize}, true},
		{Params{0, 256, 1024}, false},
		{Params{-1, 256, 1024}, false},
		{Params{256, 256, 1024}, false},
		{Params{64, 300, 1024}, false},
		{Params{16, 32, 1024}, false},
		{Params{64, 256, 256}, false},
		{Params{64, 256, catalog.MaxChunkSize + 1}, false},
		{Params{}, false},
	} {
		err := tc.p.Validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrParams)) {
			t.Errorf("%+v.Validate() = %v, want ok=%v", tc.p, err, tc.ok)
		}
	}
}

func TestBoundsAndConcat(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Params
		data []byte
	}{
		{"empty", small, nil},
		{"one byte", small, []byte{7}},
		{"below min", small, randBytes(1, 63)},
		{"exactly max", small, bytes.Repeat([]byte{0}, 1024)},
		{"random", small, randBytes(2, 1<<20)},
		{"text", small, textBytes(1 << 20)},
		{"zeros hit max", small, make([]byte, 100_000)},
		{"default random", DefaultParams, randBytes(3, 8<<20)},
		{"default zeros", DefaultParams, make([]byte, 3*DefaultParams.Max+5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := chunks(t, tc.p, tc.data, all)
			checkChunks(t, tc.p, tc.data, cs)
		})
	}
}

// TestWriteSplitting: cut points depend on content only, not on how the
// stream is cut into Write calls or reads.
func TestWriteSplitting(t *testing.T) {
	data := append(randBytes(4, 300_000), textBytes(200_000)...)
	want := chunks(t, small, data, all)
	r := rand.New(rand.NewPCG(9, 9))
	for name, pieces := range map[string]func(int) int{
		"byte by byte": func(int) int { return 1 },
		"random":       func(int) int { return 1 + r.IntN(3000) },
		"prime":        func(int) int { return 1021 },
		"max+1":        func(int) int { return small.Max + 1 },
	} {
		got := chunks(t, small, data, pieces)
		if !equalChunks(got, want) {
			t.Errorf("%s: %d chunks differ from all-at-once (%d chunks)", name, len(got), len(want))
		}
	}
	var got [][]byte
	err := Split(iotest.HalfReader(bytes.NewReader(data)), small, func(c []byte) error {
		got = append(got, bytes.Clone(c))
		return nil
	})
	if err != nil || !equalChunks(got, want) {
		t.Errorf("Split: err %v, %d chunks, want %d", err, len(got), len(want))
	}
}

func equalChunks(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestGolden pins the cut points: the gear table and the cut rule are part
// of the format, since changing them loses dedup against every old backup.
func TestGolden(t *testing.T) {
	h := sha256.New()
	p := Params{Min: 64 << 10, Avg: 256 << 10, Max: 1 << 20}
	for _, c := range chunks(t, p, randBytes(42, 16<<20), all) {
		fmt.Fprintf(h, "%d,", len(c))
	}
	const want = "b72336f0ecd69bfc"
	if got := fmt.Sprintf("%x", h.Sum(nil)[:8]); got != want {
		t.Errorf("cut points changed: length-list digest %s, want %s", got, want)
	}
	if gearTable[0] != 0x114f5488fa36ce63 || gearTable[255] != 0x81c334bf412606ca {
		t.Errorf("gear table changed: [0]=%#x [255]=%#x", gearTable[0], gearTable[255])
	}
}

func TestSplitmix64(t *testing.T) {
	// Reference outputs of splitmix64 seeded with 0 (Vigna's C code).
	s := splitmix64(0)
	for i, want := range []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f} {
		if got := s.next(); got != want {
			t.Errorf("output %d = %#x, want %#x", i, got, want)
		}
	}
}
