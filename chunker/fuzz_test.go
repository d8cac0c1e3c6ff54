package chunker

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzWriter checks, for any stream and any way of cutting it into Writes,
// that chunks stay within bounds, concatenate to the input, and do not
// depend on the Write sizes. The Writer decodes nothing, but it is the one
// place here that takes arbitrary input.
func FuzzWriter(f *testing.F) {
	f.Add([]byte{}, uint64(0))
	f.Add(textBytes(3000), uint64(1))
	f.Add(randBytes(1, 2000), uint64(2))
	p := Params{Min: 16, Avg: 64, Max: 256}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		want := chunks(t, p, data, all)
		checkChunks(t, p, data, want)
		r := rand.New(rand.NewPCG(seed, seed))
		got := chunks(t, p, data, func(n int) int { return 1 + r.IntN(min(n, 300)) })
		if !equalChunks(got, want) {
			t.Fatalf("random-sized writes gave %d chunks, one write gave %d", len(got), len(want))
		}
		var fixed [][]byte
		w, err := NewFixedWriter(64, func(c []byte) error { fixed = append(fixed, bytes.Clone(c)); return nil })
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
		if !bytes.Equal(bytes.Join(fixed, nil), data) || (len(data) > 0 && len(fixed) != (len(data)+63)/64) {
			t.Fatalf("fixed writer: %d chunks for %d bytes", len(fixed), len(data))
		}
	})
}
