package wire

import (
	"fmt"
	"iter"
)

// FileData is one frame of a file: a GET_FILE answer (FILE_DATA) or part
// of an UPLOAD_FILE. Frames come in order, FlagMore on all but the last.
//
//	0  8  total u64 (the whole file's size, the same in every frame)
//	8  8  offset u64 (where Data starts; offset+len(Data) <= total)
//	16 .. data, the rest of the payload
type FileData struct {
	Total, Offset uint64
	Data          []byte
}

// Append appends the payload encoding of f.
func (f FileData) Append(dst []byte) []byte {
	dst = appendU64(dst, f.Total)
	dst = appendU64(dst, f.Offset)
	return append(dst, f.Data...)
}

// DecodeFileData decodes a FILE_DATA payload; Data aliases p.
func DecodeFileData(p []byte) (FileData, error) {
	d := newDecoder(p, "FILE_DATA")
	f := decodeFileData(d)
	if err := d.finish(); err != nil {
		return FileData{}, err
	}
	return f, nil
}

func decodeFileData(d *decoder) FileData {
	f := FileData{Total: d.u64("total"), Offset: d.u64("offset")}
	f.Data = d.rest()
	if d.err == nil && (f.Offset > f.Total || uint64(len(f.Data)) > f.Total-f.Offset) {
		d.fail("%d bytes at offset %d of a %d-byte file", len(f.Data), f.Offset, f.Total)
	}
	return f
}

// UploadFile is one frame of an index file uploaded during a backup.
//
//	0  .. name str (1..MaxFileNameLen)
//	.. .. as FileData: total u64, offset u64, data
type UploadFile struct {
	Name string
	FileData
}

// Append appends the payload encoding of u.
func (u UploadFile) Append(dst []byte) []byte {
	return u.FileData.Append(appendStr(dst, u.Name, MaxFileNameLen))
}

// DecodeUploadFile decodes an UPLOAD_FILE payload; Data aliases p.
func DecodeUploadFile(p []byte) (UploadFile, error) {
	d := newDecoder(p, "UPLOAD_FILE")
	u := UploadFile{Name: d.str("name", 1, MaxFileNameLen)}
	u.FileData = decodeFileData(d)
	if err := d.finish(); err != nil {
		return UploadFile{}, err
	}
	return u, nil
}

// DefaultFileData is the data per frame FileParts uses when asked for 0:
// small enough that a demanded CHUNK frame does not wait long behind it.
const DefaultFileData = 1 << 20

// MaxFileData is the most data one FILE_DATA or UPLOAD_FILE frame can
// carry whatever the name.
const MaxFileData = MaxPayload - 16 - 2 - MaxFileNameLen

// FileParts splits a whole file into the FileData of its frames, at most
// maxData bytes each (0: DefaultFileData; more than MaxFileData: that),
// and yields each with more, the FlagMore it must be sent with. An empty
// file is one frame. Data slices alias data.
//
//	for fd, more := range wire.FileParts(b, 0) {
//		f := wire.Frame{Type: wire.TFileData, ID: id, Payload: fd.Append(nil)}
//		if more {
//			f.Flags = wire.FlagMore
//		}
//		...
//	}
func FileParts(data []byte, maxData int) iter.Seq2[FileData, bool] {
	if maxData <= 0 {
		maxData = DefaultFileData
	}
	maxData = min(maxData, MaxFileData)
	return func(yield func(FileData, bool) bool) {
		total := uint64(len(data))
		for off := 0; ; {
			n := min(maxData, len(data)-off)
			fd := FileData{Total: total, Offset: uint64(off), Data: data[off : off+n : off+n]}
			off += n
			more := off < len(data)
			if !yield(fd, more) || !more {
				return
			}
		}
	}
}

// assemblerPrealloc bounds what a FileAssembler allocates ahead of data
// received: a peer announcing a large total gets memory only as it sends.
const assemblerPrealloc = 4 << 20

// FileAssembler rebuilds a file from its FileData frames, checking the
// sequence: total <= limit (before allocating anything), total the same
// in every frame, offsets contiguous from 0, no data past total, and the
// last frame (more false) ending exactly at total. After an error it
// refuses every further frame. It copies the data it is given.
type FileAssembler struct {
	limit, total uint64
	started      bool
	done         bool
	err          error
	buf          []byte
}

// NewFileAssembler returns an assembler accepting files of at most limit
// bytes (MaxFileTotal is the protocol's bound).
func NewFileAssembler(limit uint64) *FileAssembler { return &FileAssembler{limit: limit} }

// Add adds the next frame; more is the frame's FlagMore. It reports done
// when the file is complete, and done false with any error.
func (a *FileAssembler) Add(fd FileData, more bool) (done bool, err error) {
	if a.err == nil {
		a.err = a.add(fd, more)
	}
	if a.err != nil {
		return false, a.err
	}
	return a.done, nil
}

func (a *FileAssembler) add(fd FileData, more bool) error {
	switch {
	case a.done:
		return fmt.Errorf("%w: file data after the last frame", ErrProtocol)
	case !a.started && fd.Total > a.limit:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, fd.Total, a.limit)
	case !a.started:
		a.started, a.total = true, fd.Total
		a.buf = make([]byte, 0, min(fd.Total, assemblerPrealloc))
	case fd.Total != a.total:
		return fmt.Errorf("%w: file total changed from %d to %d", ErrProtocol, a.total, fd.Total)
	}
	have := uint64(len(a.buf))
	switch {
	case fd.Offset != have:
		return fmt.Errorf("%w: file data at offset %d, want %d", ErrProtocol, fd.Offset, have)
	case uint64(len(fd.Data)) > a.total-have:
		return fmt.Errorf("%w: %d bytes at offset %d of a %d-byte file", ErrProtocol, len(fd.Data), have, a.total)
	}
	a.grow(len(fd.Data))
	a.buf = append(a.buf, fd.Data...)
	if !more {
		if uint64(len(a.buf)) != a.total {
			return fmt.Errorf("%w: last frame ends at %d of a %d-byte file", ErrProtocol, len(a.buf), a.total)
		}
		a.done = true
	}
	return nil
}

// grow makes room for n more bytes, doubling capacity up to the total:
// append alone grows large slices by 1.25x, which copies a 1 GiB file
// some 25 times over.
func (a *FileAssembler) grow(n int) {
	need := len(a.buf) + n
	if need <= cap(a.buf) {
		return
	}
	b := make([]byte, len(a.buf), min(a.total, uint64(max(2*cap(a.buf), need))))
	copy(b, a.buf)
	a.buf = b
}

// Received returns the number of bytes received so far.
func (a *FileAssembler) Received() uint64 { return uint64(len(a.buf)) }

// Total returns the file's total size (0 before the first frame).
func (a *FileAssembler) Total() uint64 { return a.total }

// Bytes returns the file once Add reported done (before: what was received).
func (a *FileAssembler) Bytes() []byte { return a.buf }
