package wire

import (
	"fmt"
	"strconv"
)

// Code is an error code carried by ERROR and MISSING.
type Code uint16

// Error codes (PROTOCOL.md, "Error codes").
const (
	CodeGeneric    Code = 1 // anything else
	CodeBusy       Code = 2 // a limit was hit; retry later
	CodeNotFound   Code = 3 // no such group, snapshot, file or chunk
	CodeDenied     Code = 4 // the token does not allow it
	CodeBadRequest Code = 5 // malformed frame or message, wrong state
	CodeVersion    Code = 6 // protocol version mismatch
	CodeCorrupt    Code = 7 // stored data failed its checksum
	CodeCanceled   Code = 8 // answer to CANCEL
	CodeExists     Code = 9 // the snapshot exists or is being written
)

var codeNames = [...]string{
	CodeGeneric:    "GENERIC",
	CodeBusy:       "BUSY",
	CodeNotFound:   "NOT_FOUND",
	CodeDenied:     "DENIED",
	CodeBadRequest: "BAD_REQUEST",
	CodeVersion:    "VERSION",
	CodeCorrupt:    "CORRUPT",
	CodeCanceled:   "CANCELED",
	CodeExists:     "EXISTS",
}

// Known reports whether c is one of the codes of this protocol version.
func (c Code) Known() bool { return int(c) < len(codeNames) && codeNames[c] != "" }

// String returns the name PROTOCOL.md uses (NOT_FOUND), or CODE(n).
func (c Code) String() string {
	if c.Known() {
		return codeNames[c]
	}
	return "CODE(" + strconv.Itoa(int(c)) + ")"
}

// Limits of PROTOCOL.md that the decoders enforce.
const (
	MaxTokenLen      = 1024    // HELLO token (client)
	MaxServerNameLen = 256     // HELLO server name
	MaxMessageLen    = 4096    // ERROR message
	MaxGroupLen      = 256     // a group "type/id" (catalog allows 4+1+128)
	MaxFileNameLen   = 256     // GET_FILE / UPLOAD_FILE name (manifest.json or an index file)
	MaxGroups        = 65536   // groups per GROUPS frame
	MaxSnapshots     = 1000000 // times per SNAPSHOTS frame
	MaxGetChunks     = 4096    // digests per GET_CHUNKS
	MaxLacking       = 65536   // lacking digests per BACKUP_READY (2 MiB)
	MaxManifest      = 1 << 20 // BACKUP_FINISH manifest
	MaxFileTotal     = 1 << 30 // the FILE_DATA total a receiver should accept (NewFileAssembler limit)
)

// Error is the ERROR message, and an error value.
//
//	0  2  code u16 (non-zero; unknown codes are accepted and mean GENERIC)
//	2  .. message str (<= MaxMessageLen; Append truncates a longer one)
type Error struct {
	Code    Code
	Message string
}

// Error returns "server: CODE: message".
func (e Error) Error() string { return "server: " + e.Code.String() + ": " + e.Message }

// Errorf returns an Error with a formatted message.
func Errorf(c Code, format string, args ...any) Error {
	return Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// Append appends the payload encoding of e.
func (e Error) Append(dst []byte) []byte {
	dst = appendU16(dst, uint16(e.Code))
	return appendStr(dst, e.Message, MaxMessageLen)
}

// DecodeError decodes an ERROR payload.
func DecodeError(p []byte) (Error, error) {
	d := newDecoder(p, "ERROR")
	e := Error{Code: Code(d.u16("code"))}
	e.Message = d.str("message", 0, MaxMessageLen)
	if d.err == nil && e.Code == 0 {
		d.fail("code 0")
	}
	if err := d.finish(); err != nil {
		return Error{}, err
	}
	return e, nil
}
