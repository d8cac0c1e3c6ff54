package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/backupfs/backupfs/remote/wire"
)

// srvQueueBytes is how many payload bytes each priority queue holds before
// a handler waits: a frame is always admitted into an empty queue, so one
// large blob never deadlocks.
const srvQueueBytes = 4 << 20

// errSrvQueueClosed is returned by srvQueue.push after close.
var errSrvQueueClosed = errors.New("remote: server: connection closing")

// frameBufs holds the buffers CHUNK answer frames are built in.
var frameBufs wire.BufPool

// srvItem is one answer frame waiting to be written.
type srvItem struct {
	f        wire.Frame
	req      *srvReq // nil for connection frames
	terminal bool    // written even if req was canceled (ERROR CANCELED)
	// buf, if set, is a pooled buffer holding the frame: HeaderSize bytes
	// of room, then f.Payload. The writer fills the header in, writes it
	// all at once and returns buf to frameBufs.
	buf *[]byte
}

// release returns the item's buffer to the pool: only for an item that
// was never queued or was taken off the queue (nothing else refers to it).
func (it *srvItem) release() {
	if it.buf != nil {
		frameBufs.Put(it.buf)
		it.buf = nil
	}
}

// writeItem writes one item's frame to bw and releases its buffer.
func writeItem(bw *bufio.Writer, it *srvItem) error {
	if it.buf == nil {
		return wire.WriteFrame(bw, it.f)
	}
	defer it.release()
	if err := it.f.Check(); err != nil {
		return fmt.Errorf("wire: write: %w", err)
	}
	b := *it.buf
	wire.AppendFrame(b[:0], wire.Frame{Type: it.f.Type, Flags: it.f.Flags, ID: it.f.ID})
	binary.LittleEndian.PutUint32(b[8:wire.HeaderSize], uint32(len(it.f.Payload)))
	// An empty bufio.Writer hands a large write straight to the connection.
	if _, err := bw.Write(b[:wire.HeaderSize+len(it.f.Payload)]); err != nil {
		return fmt.Errorf("wire: write %v frame: %w", it.f.Type, err)
	}
	return nil
}

// srvQueue holds a connection's answer frames in two priorities; one
// writer goroutine drains it (run), high before low.
type srvQueue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	high, low  []srvItem
	hiN, loN   int         // payload bytes queued per priority
	closed     bool        // no more pushes; run drains and returns
	final      *wire.Frame // set by abort: drop the rest, write this, return
	aborted    bool
	writeLimit time.Duration
}

func srvNewQueue(writeLimit time.Duration) *srvQueue {
	q := &srvQueue{writeLimit: writeLimit}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push queues f, waiting while its priority's queue is full.
func (q *srvQueue) push(it srvItem, high bool) error {
	n := len(it.f.Payload)
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && !q.aborted {
		if high && (q.hiN == 0 || q.hiN+n <= srvQueueBytes) {
			q.high = append(q.high, it)
			q.hiN += n
			q.cond.Broadcast()
			return nil
		}
		if !high && (q.loN == 0 || q.loN+n <= srvQueueBytes) {
			q.low = append(q.low, it)
			q.loN += n
			q.cond.Broadcast()
			return nil
		}
		q.cond.Wait()
	}
	return errSrvQueueClosed
}

// close lets run write what is queued and return.
func (q *srvQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// abort drops what is queued; run writes final (if not nil) and returns.
func (q *srvQueue) abort(final *wire.Frame) {
	q.mu.Lock()
	if !q.aborted {
		q.aborted, q.final = true, final
		q.high, q.low, q.hiN, q.loN = nil, nil, 0, 0
	}
	q.cond.Broadcast()
	q.mu.Unlock()
}

// next returns the next item to write; ok false when run should stop.
// flush reports that nothing else is queued (time to flush the buffer).
func (q *srvQueue) next() (it srvItem, flush, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.aborted && len(q.high) == 0 && len(q.low) == 0 {
		if q.closed {
			return it, true, false
		}
		q.cond.Wait()
	}
	if q.aborted {
		return it, true, false
	}
	if len(q.high) > 0 {
		it, q.high = q.high[0], q.high[1:]
		q.hiN -= len(it.f.Payload)
	} else {
		it, q.low = q.low[0], q.low[1:]
		q.loN -= len(it.f.Payload)
	}
	q.cond.Broadcast()
	return it, len(q.high)+len(q.low) == 0, true
}

// run writes queued frames to nc until the queue is closed and empty or
// aborted; it returns the first write error (after aborting the queue).
// Frames of a canceled request are dropped unless terminal. Every flush
// of a frame must complete within writeLimit.
func (q *srvQueue) run(nc net.Conn, sent func(int)) error {
	bw := bufio.NewWriterSize(nc, 64<<10)
	err := q.drain(nc, bw, sent)
	if err == nil {
		q.mu.Lock()
		final := q.final
		q.mu.Unlock()
		if final != nil {
			_ = nc.SetWriteDeadline(time.Now().Add(q.writeLimit))
			if err = wire.WriteFrame(bw, *final); err == nil {
				err = bw.Flush()
			}
		}
	}
	if err != nil {
		q.abort(nil)
	}
	return err
}

func (q *srvQueue) drain(nc net.Conn, bw *bufio.Writer, sent func(int)) error {
	for {
		it, flush, ok := q.next()
		if !ok {
			if bw.Buffered() > 0 {
				_ = nc.SetWriteDeadline(time.Now().Add(q.writeLimit))
				return bw.Flush()
			}
			return nil
		}
		if it.req != nil && it.req.canceled.Load() && !it.terminal {
			it.release()
			continue
		}
		// Each frame (and the flush after it) gets the whole limit: a
		// peer that reads keeps the connection, one that stalls loses it.
		_ = nc.SetWriteDeadline(time.Now().Add(q.writeLimit))
		if err := writeItem(bw, &it); err != nil {
			return err
		}
		sent(wire.HeaderSize + len(it.f.Payload))
		if flush {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
	}
}

// tryPush queues a high-priority frame without waiting; it fails if that
// queue is full or closed.
func (q *srvQueue) tryPush(it srvItem) error {
	n := len(it.f.Payload)
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed || q.aborted:
		return errSrvQueueClosed
	case q.hiN > 0 && q.hiN+n > srvQueueBytes:
		return errors.New("answer queue full")
	}
	q.high = append(q.high, it)
	q.hiN += n
	q.cond.Broadcast()
	return nil
}
