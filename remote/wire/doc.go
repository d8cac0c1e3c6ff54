// Package wire is the frame and message codec of the backupfs protocol,
// version 4 (version 3 lacked ADMIN and ADMIN_OUTPUT; version 2 also the
// digest query, QUERY_CHUNKS and KNOWN_CHUNKS; version 1 also
// BACKUP_READY's lacking chunks and note and the EXISTS code; a peer of
// another version is refused at HELLO with a VERSION error naming both
// versions). What a version-4 server offers beyond the base is in its
// HELLO's feature bits (sealed blobs, the digest query, administration,
// sync, push): a peer checks a bit before it sends the frames it covers,
// so a feature added later (PUSH) needs no new version.
// remote/PROTOCOL.md is the specification and the single source
// of truth for the byte layout; this package implements it and repeats the
// layout next to each type.
//
// # Contract
//
// wire is pure encoding and decoding: it opens no sockets, starts no
// goroutines, keeps no per-connection state and knows nothing about
// sessions, tokens or the datastore. The client and the server build on it.
//
//   - ReadFrame reads exactly one frame. It validates the header (type known,
//     flags allowed for that type, reserved bytes zero, length at most
//     MaxPayload) before allocating the payload, so a peer cannot make it
//     allocate more than MaxPayload per frame. It returns io.EOF only when
//     the stream ends cleanly at a frame boundary and io.ErrUnexpectedEOF
//     when it ends inside a frame.
//   - WriteFrame issues one Write for small frames and net.Buffers (one
//     writev on a TCP connection) for large ones; callers that share a
//     connection serialise WriteFrame calls with a mutex.
//   - BufPool pools the buffers of large frames in power-of-two size
//     classes, for both sides (the server builds CHUNK answers in one, the
//     client receives zstd CHUNK payloads into one). wire holds no pool
//     itself: client and server each keep their own.
//   - Every message type has Append (its payload encoding) and a DecodeX
//     function. Decoders require the payload to be consumed exactly, bound
//     every count and length before allocating, and never panic. Byte
//     slices in decoded messages (Chunk.Blob, FileData.Data, ...) alias the
//     payload, capacity-limited so that appending to them cannot clobber
//     it; strings are copies.
//   - Append never fails. It does not validate: a string longer than its
//     field's bound (MaxTokenLen, MaxGroupLen, ...) is truncated to that
//     bound, and counts above their bound (MaxGroups, MaxGetChunks, ...)
//     are encoded as given and refused by the peer's decoder. Callers
//     validate names (catalog.ParseGroup, catalog.ArchiveKind) and split
//     long lists before encoding.
//
// # Errors
//
// Every decode failure wraps ErrProtocol, with the one exception of a HELLO
// naming another protocol version: that error wraps ErrVersion (and not
// ErrProtocol), so that the server can answer ERROR VERSION rather than
// BAD_REQUEST, and the decoded hello still carries the peer's version.
// FileAssembler refuses a file larger than its limit with ErrTooLarge (a
// caller may answer BUSY to that) and any inconsistent sequence of frames
// with ErrProtocol. Error, the ERROR message, implements error itself.
//
// # Semantics left to callers
//
// wire checks syntax and the bounds of PROTOCOL.md, not meaning: it does
// not parse group names or file names, check that a MISSING code is one of
// the three the spec names, verify a chunk's digest or decode a blob
// (store's blob decoder does that, bounding it by store.MaxBlobSize), or
// check request ids against requests in flight.
package wire
