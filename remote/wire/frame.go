package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Protocol constants. A frame is a 12-byte header and a payload:
//
//	offset size field
//	0      1    type (Type)
//	1      1    flags (Flags): bit 0 MORE, bit 1 DEMAND, others zero;
//	            MORE only on GROUPS, FILE_DATA, UPLOAD_FILE, ADMIN_OUTPUT; DEMAND only on GET_CHUNKS
//	2      2    reserved, zero
//	4      4    request id, u32 LE (0: the connection itself)
//	8      4    payload length, u32 LE, at most MaxPayload
//	12     n    payload
const (
	Version    = 4
	Magic      = "BFSP"
	HeaderSize = 12
	MaxPayload = 16 << 20
)

var (
	// ErrProtocol is wrapped by every decode failure: a malformed header or
	// payload. The connection is then unusable (answer ERROR BAD_REQUEST
	// with id 0 and close).
	ErrProtocol = errors.New("wire: protocol error")
	// ErrVersion is wrapped when a HELLO names another protocol version.
	ErrVersion = errors.New("wire: version mismatch")
	// ErrTooLarge is wrapped when a FileAssembler is offered a file larger
	// than its limit.
	ErrTooLarge = errors.New("wire: file too large")
)

// Type is a frame type.
type Type uint8

// Frame types; PROTOCOL.md gives each one's payload and direction.
const (
	THello   Type = 0x01
	TError   Type = 0x02
	TPing    Type = 0x03
	TPong    Type = 0x04
	TGoodbye Type = 0x05
	TCancel  Type = 0x06

	TListGroups    Type = 0x10
	TGroups        Type = 0x11
	TListSnapshots Type = 0x12
	TSnapshots     Type = 0x13
	TGetFile       Type = 0x14
	TFileData      Type = 0x15

	TGetChunks Type = 0x20
	TChunk     Type = 0x21
	TMissing   Type = 0x22

	TBackupBegin  Type = 0x30
	TBackupReady  Type = 0x31
	TUploadChunk  Type = 0x32
	TAck          Type = 0x33
	TUploadFile   Type = 0x34
	TBackupFinish Type = 0x35
	TBackupAbort  Type = 0x36
	TQueryChunks  Type = 0x37 // version 3
	TKnownChunks  Type = 0x38 // version 3

	TAdmin       Type = 0x40 // version 4
	TAdminOutput Type = 0x41 // version 4

	TPush       Type = 0x50 // version 4, feature FeaturePush
	TPushResult Type = 0x51 // version 4, feature FeaturePush
)

// Flags are a frame's flag bits.
type Flags uint8

const (
	// FlagMore: more frames of this answer or upload follow.
	FlagMore Flags = 1 << 0
	// FlagDemand: a GET_CHUNKS that a blocked reader waits for; served
	// before readahead.
	FlagDemand Flags = 1 << 1
)

type typeInfo struct {
	name  string
	flags Flags // the flags allowed on this type
}

var types = [...]typeInfo{
	THello:         {"HELLO", 0},
	TError:         {"ERROR", 0},
	TPing:          {"PING", 0},
	TPong:          {"PONG", 0},
	TGoodbye:       {"GOODBYE", 0},
	TCancel:        {"CANCEL", 0},
	TListGroups:    {"LIST_GROUPS", 0},
	TGroups:        {"GROUPS", FlagMore},
	TListSnapshots: {"LIST_SNAPSHOTS", 0},
	TSnapshots:     {"SNAPSHOTS", 0},
	TGetFile:       {"GET_FILE", 0},
	TFileData:      {"FILE_DATA", FlagMore},
	TGetChunks:     {"GET_CHUNKS", FlagDemand},
	TChunk:         {"CHUNK", 0},
	TMissing:       {"MISSING", 0},
	TBackupBegin:   {"BACKUP_BEGIN", 0},
	TBackupReady:   {"BACKUP_READY", 0},
	TUploadChunk:   {"UPLOAD_CHUNK", 0},
	TAck:           {"ACK", 0},
	TUploadFile:    {"UPLOAD_FILE", FlagMore},
	TBackupFinish:  {"BACKUP_FINISH", 0},
	TBackupAbort:   {"BACKUP_ABORT", 0},
	TQueryChunks:   {"QUERY_CHUNKS", 0},
	TKnownChunks:   {"KNOWN_CHUNKS", 0},
	TAdmin:         {"ADMIN", 0},
	TAdminOutput:   {"ADMIN_OUTPUT", FlagMore},
	TPush:          {"PUSH", 0},
	TPushResult:    {"PUSH_RESULT", 0},
}

// Known reports whether t is a frame type of this protocol version.
func (t Type) Known() bool { return int(t) < len(types) && types[t].name != "" }

// AllowedFlags returns the flags a frame of type t may carry.
func (t Type) AllowedFlags() Flags {
	if !t.Known() {
		return 0
	}
	return types[t].flags
}

// String returns the name PROTOCOL.md uses (GET_CHUNKS), or TYPE(0xNN).
func (t Type) String() string {
	if t.Known() {
		return types[t].name
	}
	return fmt.Sprintf("TYPE(%#02x)", uint8(t))
}

// Frame is one frame. Payload is the encoding of the type's message.
type Frame struct {
	Type    Type
	Flags   Flags
	ID      uint32
	Payload []byte
}

// More reports whether FlagMore is set.
func (f Frame) More() bool { return f.Flags&FlagMore != 0 }

// checkHeader validates what a header says before anything is allocated.
func checkHeader(t Type, flags Flags, n uint64) error {
	switch {
	case !t.Known():
		return fmt.Errorf("%w: unknown frame type %v", ErrProtocol, t)
	case flags&^t.AllowedFlags() != 0:
		return fmt.Errorf("%w: %v frame with flags %#02x", ErrProtocol, t, uint8(flags))
	case n > MaxPayload:
		return fmt.Errorf("%w: %v frame of %d bytes, at most %d", ErrProtocol, t, n, MaxPayload)
	}
	return nil
}

// Check validates the frame as ReadFrame would.
func (f Frame) Check() error { return checkHeader(f.Type, f.Flags, uint64(len(f.Payload))) }

// parseHeader decodes and validates a frame header; it returns the frame
// without payload and the payload length.
func parseHeader(h *[HeaderSize]byte) (Frame, int, error) {
	f := Frame{Type: Type(h[0]), Flags: Flags(h[1]), ID: binary.LittleEndian.Uint32(h[4:])}
	n := binary.LittleEndian.Uint32(h[8:])
	if r := binary.LittleEndian.Uint16(h[2:]); r != 0 {
		return f, 0, fmt.Errorf("%w: %v frame with reserved field %#04x", ErrProtocol, f.Type, r)
	}
	if err := checkHeader(f.Type, f.Flags, uint64(n)); err != nil {
		return f, 0, err
	}
	return f, int(n), nil
}

// ReadFrame reads exactly one frame. It returns io.EOF (unwrapped) only if
// r ends before the first byte of a frame, and an error wrapping
// io.ErrUnexpectedEOF if it ends inside one. The header is validated before
// the payload is allocated; a header error wraps ErrProtocol.
func ReadFrame(r io.Reader) (Frame, error) { return ReadFrameBuf(r, nil) }

// ReadFrameBuf is ReadFrame reading the payload into buf when it has the
// capacity (buf[:n]), so a reader can reuse one buffer. The frame's payload
// (and every message decoded from it) is then valid only until buf is
// reused.
func ReadFrameBuf(r io.Reader, buf []byte) (Frame, error) {
	var h [HeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF {
			return Frame{}, io.EOF
		}
		return Frame{}, fmt.Errorf("wire: read frame header: %w", err)
	}
	f, n, err := parseHeader(&h)
	if err != nil {
		return Frame{}, err
	}
	if n == 0 {
		return f, nil
	}
	if cap(buf) >= n {
		f.Payload = buf[:n]
	} else {
		f.Payload = make([]byte, n)
	}
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, fmt.Errorf("wire: read %v frame payload (%d bytes): %w", f.Type, n, err)
	}
	return f, nil
}

// AppendFrame appends the frame's header and payload to dst. It does not
// validate the frame (see Frame.Check); WriteFrame does.
func AppendFrame(dst []byte, f Frame) []byte {
	dst = append(dst, byte(f.Type), byte(f.Flags), 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, f.ID)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(f.Payload)))
	return append(dst, f.Payload...)
}

// smallFrame is the largest payload WriteFrame copies to send header and
// payload in one Write; larger payloads go out as net.Buffers (writev on a
// TCP connection, two Writes on others) instead of being copied.
const smallFrame = 64 << 10

var smallBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, HeaderSize+smallFrame)
	return &b
}}

// WriteFrame validates f and writes it. Concurrent writers on one w must
// hold a mutex around the call. A frame that fails Check is not written
// and the error wraps ErrProtocol.
func WriteFrame(w io.Writer, f Frame) error {
	if err := f.Check(); err != nil {
		return fmt.Errorf("wire: write: %w", err)
	}
	var err error
	if len(f.Payload) <= smallFrame {
		bp := smallBufs.Get().(*[]byte)
		b := AppendFrame((*bp)[:0], f)
		_, err = w.Write(b)
		*bp = b[:0]
		smallBufs.Put(bp)
	} else {
		hdr := AppendFrame(make([]byte, 0, HeaderSize), Frame{Type: f.Type, Flags: f.Flags, ID: f.ID})
		binary.LittleEndian.PutUint32(hdr[8:], uint32(len(f.Payload)))
		bufs := net.Buffers{hdr, f.Payload}
		_, err = bufs.WriteTo(w)
	}
	if err != nil {
		return fmt.Errorf("wire: write %v frame: %w", f.Type, err)
	}
	return nil
}
