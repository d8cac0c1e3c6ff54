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

// BenchmarkWriter times the Writer as backup uses it: 1 MiB writes.
func BenchmarkWriter(b *testing.B) {
	data := benchData()
	for _, tc := range []struct {
		name string
		new  func() (*Writer, error)
	}{
		{"cdc", func() (*Writer, error) { return NewWriter(DefaultParams, func([]byte) error { return nil }) }},
		{"fixed", func() (*Writer, error) { return NewFixedWriter(DefaultFixedSize, func([]byte) error { return nil }) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				w, err := tc.new()
				if err != nil {
					b.Fatal(err)
				}
				for p := data; len(p) > 0; p = p[min(1<<20, len(p)):] {
					w.Write(p[:min(1<<20, len(p))])
				}
				w.Close()
			}
		})
	}
}
