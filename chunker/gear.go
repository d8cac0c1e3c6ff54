package chunker

import "math/bits"

// gearSeed seeds the splitmix64 generator that fills gearTable. Changing it
// (or the generator) changes every cut point, and with it dedup against all
// existing backups: treat it as part of the format.
const gearSeed = 0x6261636b75706673 // "backupfs"

// gearTable maps a byte to a 64-bit random value; see newGearTable.
var gearTable = newGearTable(gearSeed)

// splitmix64 is Steele, Lea and Flood's generator: a 64-bit counter stepped
// by the golden-ratio constant and passed through a bijective mixer. It is
// small, deterministic and good enough to fill a hash table.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func newGearTable(seed uint64) *[256]uint64 {
	var t [256]uint64
	s := splitmix64(seed)
	for i := range t {
		t[i] = s.next()
	}
	return &t
}

// topMask returns a mask of the n most significant bits. The gear hash
// shifts left, so its high bits depend on the last 64 bytes while its low
// bits only see the last few: cut conditions must test high bits.
func topMask(n int) uint64 { return ^uint64(0) << (64 - n) }

// scanner finds the end of the current chunk in a stream fed piecewise. It
// keeps only the state a cut decision needs (position in the chunk, rolling
// hash), never the bytes, so the Writer copies nothing it does not emit.
type scanner interface {
	// scan consumes b, the next bytes of the current chunk. It returns
	// the length of the prefix of b that completes the chunk and resets
	// for the next chunk, or -1 when all of b belongs to a chunk that is
	// still open.
	scan(b []byte) int
	// reset forgets the open chunk: the next byte starts a new one.
	reset()
}

// gear is FastCDC's chunker: a gear rolling hash (h = h<<1 + table[byte]),
// no hashing of the first Min bytes of a chunk (no cut can happen there), and
// normalized chunking at level 2: below Avg the cut mask has log2(Avg)+2 bits
// (cuts are 4x rarer), from Avg on log2(Avg)-2 bits (4x likelier), which
// squeezes chunk sizes towards Avg. A chunk is cut at Max at the latest.
type gear struct {
	min, avg, max int
	maskS, maskL  uint64
	pos           int    // bytes of the open chunk consumed so far
	h             uint64 // rolling hash of the open chunk from offset min
}

func newGear(p Params) *gear {
	b := bits.TrailingZeros(uint(p.Avg))
	return &gear{min: p.Min, avg: p.Avg, max: p.Max, maskS: topMask(b + 2), maskL: topMask(b - 2)}
}

func (g *gear) scan(b []byte) int {
	i := 0
	if g.pos < g.min {
		i = g.min - g.pos
		if i >= len(b) {
			g.pos += len(b)
			return -1
		}
	}
	h, tab := g.h, gearTable
	for end := min(len(b), g.avg-g.pos); i < end; i++ {
		h = h<<1 + tab[b[i]]
		if h&g.maskS == 0 {
			return g.cut(i + 1)
		}
	}
	end := min(len(b), g.max-g.pos)
	for ; i < end; i++ {
		h = h<<1 + tab[b[i]]
		if h&g.maskL == 0 {
			return g.cut(i + 1)
		}
	}
	if g.pos+len(b) >= g.max {
		return g.cut(g.max - g.pos)
	}
	g.h = h
	g.pos += len(b)
	return -1
}

func (g *gear) reset() { g.pos, g.h = 0, 0 }

func (g *gear) cut(n int) int {
	g.pos, g.h = 0, 0
	return n
}

// fixed cuts every size bytes.
type fixed struct {
	size, pos int
}

func (f *fixed) reset() { f.pos = 0 }

func (f *fixed) scan(b []byte) int {
	if rest := f.size - f.pos; rest <= len(b) {
		f.pos = 0
		return rest
	}
	f.pos += len(b)
	return -1
}
