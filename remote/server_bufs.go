package remote

import (
	"math/bits"
	"sync"
)

// frameBufs pools the buffers CHUNK frames are built in (server) and
// received into (client), in power-of-two size classes: chunk sizes vary,
// and one pool of mixed sizes would hand a small buffer to a large chunk
// and drop it. A buffer is used for one frame and returned once nothing
// references it.
var frameBufs bufClasses

const (
	minBufClass = 12 // 4 KiB
	maxBufClass = 24 // 16 MiB: a header, a digest and the largest blob fit
)

// bufClasses is a pool of byte buffers whose capacity is a power of two.
// The zero value is ready.
type bufClasses struct {
	pools [maxBufClass + 1]sync.Pool
}

// bufClass is the smallest class holding n bytes.
func bufClass(n int) int {
	return max(minBufClass, bits.Len(uint(n-1)))
}

// get returns a buffer of length n; its contents are undefined. A buffer
// too large for any class is allocated and never pooled.
func (p *bufClasses) get(n int) *[]byte {
	c := bufClass(n)
	if c > maxBufClass {
		b := make([]byte, n)
		return &b
	}
	if bp, ok := p.pools[c].Get().(*[]byte); ok {
		*bp = (*bp)[:n]
		return bp
	}
	b := make([]byte, n, 1<<c)
	return &b
}

// put returns a buffer from get; the caller must not use it afterwards.
func (p *bufClasses) put(bp *[]byte) {
	c := bits.Len(uint(cap(*bp))) - 1
	if c < minBufClass || c > maxBufClass || cap(*bp) != 1<<c {
		return
	}
	p.pools[c].Put(bp)
}
