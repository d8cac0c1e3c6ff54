package wire

import (
	"math/bits"
	"sync"
)

// BufPool pools the byte buffers frames are built in (the server's CHUNK
// answers) and received into (the client's), in power-of-two size classes:
// chunk sizes vary, and one pool of mixed sizes would hand a small buffer
// to a large chunk and drop it. A buffer is used for one frame and
// returned once nothing references it. The zero value is ready; it is safe
// for concurrent use. wire holds no instance: the client and the server
// each keep their own (frameBufs), so the codec itself stays stateless.
type BufPool struct {
	pools [maxBufClass + 1]sync.Pool
}

const (
	minBufClass = 12 // 4 KiB
	maxBufClass = 24 // 16 MiB: a header, a digest and the largest blob fit
)

// bufClass is the smallest class holding n bytes.
func bufClass(n int) int {
	return max(minBufClass, bits.Len(uint(n-1)))
}

// Get returns a buffer of length n; its contents are undefined. A buffer
// too large for any class is allocated and never pooled.
func (p *BufPool) Get(n int) *[]byte {
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

// Put returns a buffer from Get; the caller must not use it afterwards.
// A buffer whose capacity is not one of the classes is dropped.
func (p *BufPool) Put(bp *[]byte) {
	c := bits.Len(uint(cap(*bp))) - 1
	if c < minBufClass || c > maxBufClass || cap(*bp) != 1<<c {
		return
	}
	p.pools[c].Put(bp)
}
