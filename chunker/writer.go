package chunker

import (
	"errors"
	"fmt"
	"io"
)

// ErrClosed reports a Write after Close.
var ErrClosed = errors.New("chunker: writer closed")

// Writer cuts the stream written to it into chunks and passes each
// completed chunk to the emit function given to NewWriter or NewFixedWriter.
//
// The slice passed to emit is valid only during the call and must not be
// modified: it is either a sub-slice of the caller's Write argument (a chunk
// that lies wholly inside one Write is never copied) or the Writer's own
// buffer of Max bytes (a chunk spanning Write calls is assembled there).
// Nothing is allocated per chunk.
//
// The first error returned by emit stops the Writer: that Write and every
// later Write or Close return it (wrapped with the chunk's stream offset).
// A Writer is not safe for concurrent use.
type Writer struct {
	sc     scanner
	emit   func(chunk []byte) error
	buf    []byte // the open chunk's bytes from earlier Writes; cap = max chunk
	off    int64  // stream offset of the open chunk
	err    error  // sticky emit error
	closed bool
}

// NewWriter returns a Writer that cuts by content (see the package doc)
// within the bounds of p.
func NewWriter(p Params, emit func(chunk []byte) error) (*Writer, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return newWriter(newGear(p), p.Max, emit)
}

// NewFixedWriter returns a Writer that cuts every size bytes; size must be a
// power of two between MinAvg and catalog.MaxChunkSize.
func NewFixedWriter(size int, emit func(chunk []byte) error) (*Writer, error) {
	if err := validFixed(size); err != nil {
		return nil, err
	}
	return newWriter(&fixed{size: size}, size, emit)
}

func newWriter(sc scanner, max int, emit func([]byte) error) (*Writer, error) {
	if emit == nil {
		return nil, fmt.Errorf("%w: nil emit function", ErrParams)
	}
	return &Writer{sc: sc, emit: emit, buf: make([]byte, 0, max)}, nil
}

// Write consumes b and emits every chunk it completes. It returns len(b)
// unless emit fails.
func (w *Writer) Write(b []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, ErrClosed
	}
	n := len(b)
	for len(b) > 0 {
		k := w.sc.scan(b)
		if k < 0 {
			w.buf = append(w.buf, b...)
			break
		}
		chunk := b[:k]
		if len(w.buf) > 0 {
			w.buf = append(w.buf, chunk...)
			chunk = w.buf
		}
		b = b[k:]
		if err := w.flush(chunk); err != nil {
			return n - len(b), err
		}
	}
	return n, nil
}

// flush emits one chunk and empties the buffer.
func (w *Writer) flush(chunk []byte) error {
	if err := w.emit(chunk); err != nil {
		w.err = fmt.Errorf("chunker: emit chunk at offset %d (%d bytes): %w", w.off, len(chunk), err)
		return w.err
	}
	w.off += int64(len(chunk))
	w.buf = w.buf[:0]
	return nil
}

// Flush emits the open chunk now, even if it is shorter than Min, and
// starts the next chunk afresh: the next byte written is the first of a
// new chunk, cut as if a stream began there. Flush with no open bytes
// emits nothing. A backup calls it before it appends chunks it did not
// write through the Writer (chunks reused from a previous snapshot), so
// the stream's chunks stay in order and no chunk spans the switch.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrClosed
	}
	w.sc.reset()
	if len(w.buf) == 0 {
		return nil
	}
	return w.flush(w.buf)
}

// Close emits the last, possibly short, chunk if the stream does not end on
// a cut. Writes after Close fail with ErrClosed; a second Close does nothing.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	w.closed = true
	if len(w.buf) == 0 {
		return nil
	}
	return w.flush(w.buf)
}

// Split reads r to its end and emits its chunks as a Writer with p would.
// Chunks that lie inside one read are emitted from the read buffer without
// copying.
func Split(r io.Reader, p Params, emit func(chunk []byte) error) error {
	w, err := NewWriter(p, emit)
	if err != nil {
		return err
	}
	buf := make([]byte, max(p.Max, 1<<20))
	for {
		n, rerr := r.Read(buf)
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		if rerr == io.EOF {
			return w.Close()
		}
		if rerr != nil {
			return fmt.Errorf("chunker: read at offset %d: %w", w.off+int64(len(w.buf)), rerr)
		}
	}
}
