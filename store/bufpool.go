package store

import "sync"

// BufPool recycles byte buffers for blobs and their plain contents, which
// are built, used and dropped once per chunk. The zero value is ready.
type BufPool struct{ pool sync.Pool }

// minPooledBuf is the smallest capacity a new pooled buffer gets: a
// chunk's worth, so buffers fit most chunks and are reused.
const minPooledBuf = 1 << 20

// Get returns an empty buffer with capacity at least n.
func (p *BufPool) Get(n int) *[]byte {
	if bp, ok := p.pool.Get().(*[]byte); ok && cap(*bp) >= n {
		return bp
	}
	b := make([]byte, 0, max(n, minPooledBuf))
	return &b
}

// Put returns a buffer from Get; the caller must not use it afterwards.
func (p *BufPool) Put(bp *[]byte) { p.pool.Put(bp) }
