package chunker

import (
	"fmt"
	"testing"
)

var benchData = func() func() []byte {
	var b []byte
	return func() []byte {
		if b == nil {
			b = randBytes(11, 32<<20)
		}
		return b
	}
}()

func benchCut(b *testing.B, cut cutFunc) {
	data := benchData()
	for _, p := range []Params{{16 << 10, 64 << 10, 256 << 10}, DefaultParams, {256 << 10, 1 << 20, 4 << 20}} {
		b.Run(fmt.Sprintf("avg=%dK", p.Avg>>10), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				n := 0
				eachChunk(data, p, cut, func([]byte) { n++ })
			}
		})
	}
}

// BenchmarkGear and BenchmarkBuzhash time the bare cut loops on the same
// pseudo-random data.
func BenchmarkGear(b *testing.B)    { benchCut(b, gearCut) }
func BenchmarkBuzhash(b *testing.B) { benchCut(b, buzCut) }

// BenchmarkWriter times the Writer as backup uses it, with small writes
// (every chunk assembled in the buffer) and large ones (most chunks emitted
// from the caller's slice without a copy).
func BenchmarkWriter(b *testing.B) {
	data := benchData()
	nop := func([]byte) error { return nil }
	for _, tc := range []struct {
		name string
		new  func() (*Writer, error)
	}{
		{"cdc", func() (*Writer, error) { return NewWriter(DefaultParams, nop) }},
		{"fixed", func() (*Writer, error) { return NewFixedWriter(DefaultFixedSize, nop) }},
	} {
		for _, ws := range []int{4 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("%s/write=%dK", tc.name, ws>>10), func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					w, err := tc.new()
					if err != nil {
						b.Fatal(err)
					}
					for p := data; len(p) > 0; p = p[min(ws, len(p)):] {
						w.Write(p[:min(ws, len(p))])
					}
					w.Close()
				}
			})
		}
	}
}
