package chunker

import "math/bits"

// The losing candidate, kept as the comparison for the measurements in the
// package doc: a buzhash (cyclic polynomial) rolling hash over a 64-byte
// window, as borg and casync use, with the classic unnormalized rule: skip
// Min bytes, then cut where the low log2(Avg) bits of the hash are zero.

const buzWindow = 64

var buzTable = newGearTable(gearSeed ^ 0xb0b0b0b0b0b0b0b0)

// buzCut returns the length of the first chunk of data (which starts at a
// chunk boundary): the first cut, Max, or len(data) if shorter.
func buzCut(data []byte, p Params) int {
	if len(data) <= p.Min {
		return len(data)
	}
	data = data[:min(len(data), p.Max)]
	mask := uint64(p.Avg - 1)
	// Prime the window so that it is full at offset Min.
	start := max(0, p.Min-buzWindow)
	var h uint64
	for _, c := range data[start:p.Min] {
		h = bits.RotateLeft64(h, 1) ^ buzTable[c]
	}
	tab := buzTable
	for i := p.Min; i < len(data); i++ {
		// With a 64-byte window and 64-bit values, the leaving byte has
		// been rotated a full turn: its term is just tab[out].
		h = bits.RotateLeft64(h, 1) ^ tab[data[i]]
		if i >= buzWindow {
			h ^= tab[data[i-buzWindow]]
		}
		if h&mask == 0 {
			return i + 1
		}
	}
	return len(data)
}

// gearCut is the same shape of function for gear, so both are measured on
// equal terms: the scanner on a whole buffer, no Writer around it.
func gearCut(data []byte, p Params) int {
	g := newGear(p)
	if n := g.scan(data); n >= 0 {
		return n
	}
	return len(data)
}

// cutFunc returns the first chunk length of data, which starts at a cut.
type cutFunc func(data []byte, p Params) int

// eachChunk calls fn for every chunk of data.
func eachChunk(data []byte, p Params, cut cutFunc, fn func([]byte)) {
	for len(data) > 0 {
		n := cut(data, p)
		fn(data[:n])
		data = data[n:]
	}
}
