package cache

import "github.com/backupfs/backupfs/catalog"

// Readahead tuning.
const (
	initWindow   = 256 << 10 // the first window, or two chunks if larger
	reorderSlack = 1 << 20   // how far a read may land from the previous end and still be sequential
	// seqReads is the length of a run (reads, each continuing the one
	// before) from which it is sequential. Two would let random reads
	// that land near each other by chance (1 in 500 for 4 KiB reads of a
	// 1 GiB image) read ahead; three makes that 1 in 250,000.
	seqReads = 3
	// raConcurrency is readahead fetches in flight per cache: enough for
	// a Source that batches them (client.Client sends 4 GET_CHUNKS of up
	// to 16 digests) to fill its batches. Bytes are bounded separately.
	raConcurrency = 64
)

// seqState tells sequential from random access and keeps the readahead
// window of one reader (a handle, or a whole stream). The zero value is a
// reader that has read nothing.
type seqState struct {
	hi     int64 // end of the furthest read of the current run
	reads  int   // reads in the current run
	window int64 // readahead bytes past the read end; 0 until the run is sequential
	next   int   // first chunk not yet read ahead
	grown  int   // chunk at which the window last doubled
}

// observe records a read of [off, end) and reports whether it belongs to
// a sequential run of at least seqReads reads. A read that starts within
// reorderSlack of the run's end (before or after it: the kernel's async
// reads arrive out of order) continues it; any other starts a new run and
// resets the window.
func (q *seqState) observe(off, end int64) bool {
	if q.reads > 0 && off >= q.hi-reorderSlack && off <= q.hi+reorderSlack {
		q.reads++
		q.hi = max(q.hi, end)
		return q.reads >= seqReads
	}
	*q = seqState{hi: end, reads: 1}
	return false
}

// plan returns the chunks [from, to) to read ahead after a sequential read
// ending at end, and grows the window: it starts at initWindow (or two
// chunks) and doubles at most once per chunk the reader moves into, up to
// limit bytes. Nothing at or past bound is planned (0: the stream's end).
func (q *seqState) plan(idx catalog.Index, end, limit, bound int64) (from, to int) {
	n := idx.NumChunks()
	cur := idx.Find(uint64(end - 1))
	if cur < 0 || cur >= n {
		return 0, 0
	}
	switch {
	case q.window == 0:
		st, en, _ := idx.Chunk(cur)
		q.window = min(limit, max(initWindow, 2*int64(en-st)))
		q.next, q.grown = cur+1, cur
	case cur > q.grown:
		q.window = min(limit, 2*q.window)
		q.grown = cur
	}
	q.next = max(q.next, cur+1)
	stop := idx.Size()
	if bound > 0 && uint64(bound) < stop {
		stop = uint64(bound)
	}
	if uint64(end) >= stop {
		return 0, 0
	}
	last := idx.Find(stop - 1)
	if target := uint64(end + q.window); target < stop {
		last = idx.Find(target - 1)
	}
	if last < q.next {
		return 0, 0
	}
	from, to = q.next, last+1
	q.next = to
	return from, to
}

// readahead feeds the read [off, end) to the handle's and the stream's
// access patterns and starts the fetches of the chunks ahead. A handle
// reading sequentially decides alone, within its file's Bound; otherwise
// the stream's pattern (reads of all handles: cp -a of many small files)
// reads ahead when it is sequential.
func (s *Stream) readahead(off, end int64, rs *ReadState) {
	limit := s.c.raLimit()
	if limit <= 0 {
		return
	}
	from, to := 0, 0
	handleSeq := false
	if rs != nil {
		rs.mu.Lock()
		if rs.seq.observe(off, end) {
			handleSeq = true
			from, to = rs.seq.plan(s.idx, end, limit, rs.end)
		}
		rs.mu.Unlock()
	}
	s.mu.Lock()
	if s.seq.observe(off, end) && !handleSeq {
		from, to = s.seq.plan(s.idx, end, limit, 0)
	}
	s.mu.Unlock()
	for i := from; i < to; i++ {
		st, en, d := s.idx.Chunk(i)
		s.c.prefetch(d, int(en-st))
	}
}

// prefetch fetches d in the background at low priority unless it is
// cached, being fetched, or all zeros. Readahead bytes and fetches in
// flight are bounded; waiting for room happens in the background
// goroutine, never in the reader.
func (c *Cache) prefetch(d catalog.Digest, size int) {
	if !valid(d, size) || c.cached(d) {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		w := min(int64(size), max(c.opt.Readahead, catalog.MaxChunkSize))
		if c.raBytes.Acquire(c.ctx, w) != nil {
			return
		}
		defer c.raBytes.Release(w)
		select {
		case c.raSlots <- struct{}{}:
		case <-c.ctx.Done():
			return
		}
		defer func() { <-c.raSlots }()
		c.mu.Lock()
		if c.lru.Contains(d) || c.flights[d] != nil {
			c.mu.Unlock()
			return
		}
		c.st.readaheadIssued.Add(1)
		f := c.newFlight(d, false)
		c.mu.Unlock()
		c.run(f, d, size) // here, holding the slot: no second goroutine to wake
	}()
}

// start begins fetching d unless it is cached or being fetched, and
// returns the new flight (nil if none was started). It does not wait.
func (c *Cache) start(d catalog.Digest, size int, demand bool) *flight {
	if !valid(d, size) {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru.Contains(d) || c.flights[d] != nil {
		return nil
	}
	if !demand {
		c.st.readaheadIssued.Add(1)
	}
	f, _ := c.join(d, size, demand)
	return f
}

// valid reports whether d of size needs a fetch at all: not an all-zero
// chunk of a size known (knownZero; the others are recognised by the
// flight, never fetched), and a size a chunk can have.
func valid(d catalog.Digest, size int) bool {
	return size > 0 && size <= catalog.MaxChunkSize && !catalog.IsZeroChunk(d, size)
}
