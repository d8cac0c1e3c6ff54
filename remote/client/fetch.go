package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// Readahead batching. A readahead fetch (ChunkContext with demand=false)
// queues its digest; up to raSenders goroutines each take up to raBatch
// queued digests and ask for them in one GET_CHUNKS, so a window of
// readahead costs a few requests, not one per chunk, and the server reads
// the blobs of a batch in parallel. Nothing waits to fill a batch: a sender
// takes what is queued when it is free. Each sender verifies and decodes
// the chunks of its batch as they arrive, so decoding runs on as many
// cores as there are senders busy.
//
// A demand fetch (or Promote) of a digest still queued takes it out of the
// queue and asks for it at once with DEMAND; a demand fetch of a digest
// whose readahead request is already sent waits for that answer rather
// than have it sent twice.
const (
	raBatch   = 16 // digests per readahead GET_CHUNKS
	raSenders = 4  // readahead GET_CHUNKS in flight
)

// errNoAnswer is a GET_CHUNKS that ended without an answer for a digest.
var errNoAnswer = fmt.Errorf("%w: no answer for a chunk asked for", wire.ErrProtocol)

// raFetch is one readahead digest, queued or sent.
type raFetch struct {
	d    catalog.Digest
	at   time.Time // when first asked: the fetch's timeout counts from here
	done chan struct{}
	data []byte
	err  error
	sent bool // in a GET_CHUNKS (or taken by a demand fetch)
}

func (f *raFetch) finish(data []byte, err error) {
	f.data, f.err = data, err
	close(f.done)
}

// raQueue holds the readahead digests of a Client.
type raQueue struct {
	mu      sync.Mutex
	queue   []*raFetch                  // not sent, oldest first
	all     map[catalog.Digest]*raFetch // queued or sent, until answered
	senders int
}

// add queues d (or returns the fetch of d already there) and reports
// whether a new sender should start.
func (q *raQueue) add(d catalog.Digest) (f *raFetch, startSender bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if f = q.all[d]; f != nil {
		return f, false
	}
	if q.all == nil {
		q.all = map[catalog.Digest]*raFetch{}
	}
	f = &raFetch{d: d, at: time.Now(), done: make(chan struct{})}
	q.all[d] = f
	q.queue = append(q.queue, f)
	if q.senders < raSenders {
		q.senders++
		return f, true
	}
	return f, false
}

// next takes up to n queued fetches for a sender; nil (and the sender
// ends) when none are queued.
func (q *raQueue) next(n int) []*raFetch {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		q.senders--
		return nil
	}
	n = min(n, len(q.queue))
	batch := make([]*raFetch, n)
	copy(batch, q.queue)
	q.queue = append(q.queue[:0], q.queue[n:]...)
	for _, f := range batch {
		f.sent = true
	}
	return batch
}

// claim returns the readahead fetch of d, if any, and whether it was still
// queued: then it is taken out of the queue and the caller must fetch it.
func (q *raQueue) claim(d catalog.Digest) (f *raFetch, queued bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	f = q.all[d]
	if f == nil || f.sent {
		return f, false
	}
	f.sent = true
	for i, g := range q.queue {
		if g == f {
			q.queue = append(q.queue[:i], q.queue[i+1:]...)
			break
		}
	}
	return f, true
}

// answered forgets the fetches of a batch once they are finished.
func (q *raQueue) answered(fs []*raFetch) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, f := range fs {
		if q.all[f.d] == f {
			delete(q.all, f.d)
		}
	}
}

// readahead queues d for a batched low-priority fetch and waits for it.
func (c *Client) readahead(ctx context.Context, d catalog.Digest) ([]byte, error) {
	f, start := c.ra.add(d)
	if start {
		go c.sendReadahead()
	}
	return c.wait(ctx, f)
}

// wait waits for f, at most the request timeout: a fetch queued behind
// batches that retry a broken connection fails in time like any request
// (its batch, when sent, gives up at f.at + Timeout too).
func (c *Client) wait(ctx context.Context, f *raFetch) ([]byte, error) {
	t := time.NewTimer(c.cfg.Timeout)
	defer t.Stop()
	select {
	case <-f.done:
		return f.data, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, fmt.Errorf("%s: chunk %s: gave up after %s: %w", c.cfg.Addr, f.d, c.cfg.Timeout, context.DeadlineExceeded)
	}
}

// sendReadahead sends queued readahead digests in batches until none are
// queued.
func (c *Client) sendReadahead() {
	for {
		batch := c.ra.next(raBatch)
		if batch == nil {
			return
		}
		c.fetchBatch(batch, false)
		c.ra.answered(batch)
	}
}

// Promote raises a readahead fetch of d that has not been sent yet to a
// demand fetch: a reader now waits for it. It does nothing otherwise.
func (c *Client) Promote(d catalog.Digest) {
	if f, queued := c.ra.claim(d); queued {
		go c.fetchPromoted(f)
	}
}

func (c *Client) fetchPromoted(f *raFetch) {
	c.fetchBatch([]*raFetch{f}, true)
	c.ra.answered([]*raFetch{f})
}

// demand fetches d for a blocked reader: a queued readahead fetch of d is
// promoted, one already sent is waited for.
func (c *Client) demand(ctx context.Context, d catalog.Digest) ([]byte, error) {
	f, queued := c.ra.claim(d)
	switch {
	case f == nil:
		var out []byte
		err := c.do(ctx, "chunk "+d.String(), func(ctx context.Context, cc *clientConn) (err error) {
			out, err = cc.getChunk(ctx, d, true)
			return err
		})
		return out, err
	case queued:
		go c.fetchPromoted(f)
	}
	return c.wait(ctx, f)
}

// fetchBatch fetches the chunks of fs in one GET_CHUNKS (again on a new
// connection for those not answered when one breaks) and finishes each.
// It gives up at the first fetch's deadline (asked + Timeout).
func (c *Client) fetchBatch(fs []*raFetch, demand bool) {
	left := make(map[catalog.Digest]*raFetch, len(fs))
	first := fs[0].at
	for _, f := range fs {
		left[f.d] = f
		if f.at.Before(first) {
			first = f.at
		}
	}
	ctx, cancel := context.WithDeadline(c.base, first.Add(c.cfg.Timeout))
	defer cancel()
	what := fmt.Sprintf("%d chunks", len(fs))
	err := c.do(ctx, what, func(ctx context.Context, cc *clientConn) error {
		ds := make([]catalog.Digest, 0, len(left))
		for d := range left {
			ds = append(ds, d)
		}
		return cc.getChunks(ctx, ds, demand, func(d catalog.Digest, data []byte, err error) {
			if f := left[d]; f != nil {
				delete(left, d)
				f.finish(data, err)
			}
		})
	})
	if err == nil {
		err = errNoAnswer
	}
	for _, f := range left {
		f.finish(nil, err)
	}
}

// getChunks asks for ds in one GET_CHUNKS and calls got once per digest
// answered (a chunk, verified and decoded, or its MISSING error), in the
// order the answers arrive. It returns when every digest is answered, or
// with the error that ended the request.
func (cc *clientConn) getChunks(ctx context.Context, ds []catalog.Digest, demand bool,
	got func(catalog.Digest, []byte, error)) error {
	return cc.getChunksWith(ctx, ds, demand, cc.decode, got)
}

// getChunksWith is getChunks with the blobs turned into results by dec.
func (cc *clientConn) getChunksWith(ctx context.Context, ds []catalog.Digest, demand bool, dec blobDecoder,
	got func(catalog.Digest, []byte, error)) error {
	fl := wire.Flags(0)
	if demand {
		fl = wire.FlagDemand
	}
	c, id, err := cc.start(wire.Frame{Type: wire.TGetChunks, Flags: fl, Payload: wire.GetChunks{Digests: ds}.Append(nil)})
	if err != nil {
		return err
	}
	want := make(map[catalog.Digest]bool, len(ds))
	for _, d := range ds {
		want[d] = true
	}
	for len(want) > 0 {
		cf, err := c.nextBuf(ctx)
		if err != nil {
			cc.cancel(id)
			return err
		}
		d, data, derr, err := decodeChunkAnswer(cf, want, dec)
		if err != nil {
			cc.forget(id)
			return err
		}
		delete(want, d)
		got(d, data, derr)
	}
	cc.forget(id)
	return nil
}

// decodeChunkAnswer decodes a CHUNK (verifying the blob against its
// digest) or MISSING for one of the digests in want; derr is that
// digest's error, err one that ends the request. The plain bytes of a raw
// blob are the frame's own payload buffer (frameReader gave it one of its
// own); a pooled buffer is returned unless the result aliases it.
func decodeChunkAnswer(cf callFrame, want map[catalog.Digest]bool, dec blobDecoder) (d catalog.Digest, data []byte, derr, err error) {
	aliases := false
	defer func() {
		if cf.buf != nil && !aliases {
			frameBufs.Put(cf.buf)
		}
	}()
	f := cf.f
	switch f.Type {
	case wire.TChunk:
		m, err := wire.DecodeChunk(f.Payload)
		if err != nil {
			return d, nil, nil, err
		}
		if !want[m.Digest] {
			return d, nil, nil, notAsked(m.Digest)
		}
		var plain []byte
		plain, aliases, err = dec(m.Digest, m.Blob)
		if err != nil {
			return m.Digest, nil, fmt.Errorf("chunk %s from the server: %w", m.Digest, err), nil
		}
		return m.Digest, plain, nil, nil
	case wire.TMissing:
		m, err := wire.DecodeMissing(f.Payload)
		if err != nil {
			return d, nil, nil, err
		}
		if !want[m.Digest] {
			return d, nil, nil, notAsked(m.Digest)
		}
		return m.Digest, nil, fmt.Errorf("chunk %s: %w", m.Digest, &ServerError{Code: m.Code, Message: "missing"}), nil
	}
	return d, nil, nil, answerError(f, wire.TChunk)
}

func notAsked(d catalog.Digest) error {
	return fmt.Errorf("%w: got chunk %s, not asked for or answered twice", wire.ErrProtocol, d)
}

// Blobs fetches chunks as stored, for copying them to another datastore
// (backupfs sync): ds in one GET_CHUNKS per call at readahead priority,
// got called with each blob as it arrives (a copy the caller may keep).
// Each is checked before got sees it: a plain blob by its SHA-256, a sealed
// one (which needs a key to open) by its header and CRC. A chunk the
// server lacks, or one that fails its check, ends the call with an error.
// A broken connection is retried for the client's Timeout; the digests
// already given are not asked again.
func (c *Client) Blobs(ctx context.Context, ds []catalog.Digest, got func(d catalog.Digest, blob []byte) error) error {
	left := make(map[catalog.Digest]bool, len(ds))
	for _, d := range ds {
		left[d] = true
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var gotErr error
	err := c.do(ctx, fmt.Sprintf("%d blobs", len(ds)), func(ctx context.Context, cc *clientConn) error {
		if err := cc.need(wire.FeatureSync); err != nil {
			return err
		}
		ask := make([]catalog.Digest, 0, len(left))
		for d := range left {
			ask = append(ask, d)
		}
		return cc.getBlobs(ctx, ask, func(d catalog.Digest, blob []byte, err error) {
			if err == nil && gotErr == nil {
				err = got(d, blob)
			}
			if err != nil && gotErr == nil {
				gotErr = err
			}
			delete(left, d)
		})
	})
	if gotErr != nil {
		return gotErr
	}
	return err
}

// getBlobs is getChunks answering blobs as stored (checked, copied).
func (cc *clientConn) getBlobs(ctx context.Context, ds []catalog.Digest, got func(catalog.Digest, []byte, error)) error {
	return cc.getChunksWith(ctx, ds, false, keepBlob, got)
}

// keepBlob is getBlobs' blobDecoder: it checks a blob and returns a copy.
func keepBlob(d catalog.Digest, blob []byte) ([]byte, bool, error) {
	var err error
	if store.BlobSealed(blob) {
		err = store.CheckBlob(blob)
	} else {
		err = store.VerifyBlob(blob, d)
	}
	if err != nil {
		return nil, false, err
	}
	return append([]byte(nil), blob...), false, nil
}

// blobDecoder turns a received blob into what a fetch returns; aliases
// says whether the result is the blob's own buffer.
type blobDecoder func(d catalog.Digest, blob []byte) (out []byte, aliases bool, err error)

// decode is the connection's blobDecoder for reads: plain bytes checked
// against the digest, a sealed blob opened by unseal (if any).
func (cc *clientConn) decode(d catalog.Digest, blob []byte) ([]byte, bool, error) {
	if cc.unseal != nil && store.BlobSealed(blob) {
		return cc.unseal(d, blob)
	}
	return store.DecodeBlobShared(blob, d)
}
