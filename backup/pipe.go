package backup

import (
	"context"
	"runtime"
	"sync"

	"github.com/backupfs/backupfs/catalog"
)

// pipe hashes and stores the chunks of one stream on several goroutines
// and hands their digests to add in stream order, so an index can be built
// while chunks are in flight. At most 2*workers chunks are buffered.
type pipe struct {
	ctx   context.Context
	dedup *dedup
	jobs  chan *job
	order chan *job
	add   func(d catalog.Digest, n int) error
	wg    sync.WaitGroup
	done  chan struct{}

	mu  sync.Mutex
	err error
}

type job struct {
	buf    []byte // nil for a known chunk
	n      int    // chunk length
	zero   bool   // known all-zero: the digest needs no hashing
	hashed bool   // d was computed by the caller (putHashed)
	d      catalog.Digest
	err    error
	ready  chan struct{}
}

func newPipe(ctx context.Context, dd *dedup, add func(catalog.Digest, int) error) *pipe {
	workers := runtime.GOMAXPROCS(0)
	p := &pipe{
		ctx: ctx, dedup: dd, add: add,
		jobs:  make(chan *job, 2*workers),
		order: make(chan *job, 2*workers),
		done:  make(chan struct{}),
	}
	for range workers {
		p.wg.Add(1)
		go p.work()
	}
	go p.collect()
	return p
}

// put copies chunk and queues it; it is a chunker emit function.
func (p *pipe) put(chunk []byte) error {
	buf := getBuf(len(chunk))
	copy(buf, chunk)
	return p.putOwned(buf, false)
}

// putOwned queues buf, which came from getBuf and now belongs to the pipe.
func (p *pipe) putOwned(buf []byte, zero bool) error {
	if err := p.firstErr(); err != nil {
		putBuf(buf)
		return err
	}
	if err := p.ctx.Err(); err != nil {
		putBuf(buf)
		return err
	}
	j := &job{buf: buf, n: len(buf), zero: zero, ready: make(chan struct{})}
	p.order <- j
	p.jobs <- j
	return nil
}

// putHashed is putOwned for a chunk whose digest d the caller computed
// from buf: it is not hashed again.
func (p *pipe) putHashed(buf []byte, d catalog.Digest) error {
	if err := p.firstErr(); err != nil {
		putBuf(buf)
		return err
	}
	if err := p.ctx.Err(); err != nil {
		putBuf(buf)
		return err
	}
	j := &job{buf: buf, n: len(buf), hashed: true, d: d, ready: make(chan struct{})}
	p.order <- j
	p.jobs <- j
	return nil
}

// closedReady is the ready channel of known chunks: nothing to wait for.
var closedReady = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// putKnown queues a chunk of n bytes that the sink already has (it is in
// the previous snapshot), by digest only: it is neither hashed nor put,
// only added to the index in stream order. The sink's Commit checks that
// every referenced chunk exists.
func (p *pipe) putKnown(d catalog.Digest, n int) error {
	if err := p.firstErr(); err != nil {
		return err
	}
	if err := p.ctx.Err(); err != nil {
		return err
	}
	p.dedup.stats.Chunks.Add(1)
	p.order <- &job{n: n, d: d, ready: closedReady}
	return nil
}

func (p *pipe) work() {
	defer p.wg.Done()
	for j := range p.jobs {
		if j.zero {
			j.d = catalog.ZeroDigest(len(j.buf))
		} else if !j.hashed {
			j.d = p.dedup.id(j.buf)
		}
		if p.firstErr() == nil {
			j.err = p.dedup.put(j.d, j.buf)
		}
		close(j.ready)
	}
}

func (p *pipe) collect() {
	defer close(p.done)
	for j := range p.order {
		<-j.ready
		err := j.err
		if err == nil {
			err = p.add(j.d, j.n)
		}
		if j.buf != nil {
			putBuf(j.buf)
		}
		if err != nil {
			p.setErr(err)
		}
	}
}

// close waits for every queued chunk and returns the first error.
func (p *pipe) close() error {
	close(p.jobs)
	close(p.order)
	p.wg.Wait()
	<-p.done
	return p.firstErr()
}

func (p *pipe) setErr(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

func (p *pipe) firstErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Buffers are pooled by capacity class so image chunks (fixed size) and
// tree chunks (up to the chunker's maximum) reuse memory.
var bufPool sync.Pool

func getBuf(n int) []byte {
	if b, ok := bufPool.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]byte, n, max(n, 1<<20))
}

func putBuf(b []byte) { bufPool.Put(&b) }
