package wire

// Push mode (issue 15): a server that cannot accept connections dials out
// and asks the other side to pull from it over the same connection
// (remote/PROTOCOL.md, "Push"). PUSH asks; ACK accepts and the roles invert;
// PUSH_RESULT, sent by the side that pulled, tells the pusher how it went.

// Bounds of the push messages.
const (
	MaxPushPatterns = 64 // group patterns in one PUSH
	MaxPushTypeLen  = 16 // PUSH type ("vm", "ct", "host" or "")
)

// Push asks the server to pull from this connection's client, which then
// serves it (PUSH, C->S, answered ACK or ERROR).
//
//	0  str   type ("" for every type; at most MaxPushTypeLen)
//	.  str   id ("" for every id of type; at most MaxGroupLen)
//	.  u16   pattern count (0..MaxPushPatterns)
//	.  ..    count x str group pattern (1..MaxGroupLen)
//	.  u32   transfer last (0: every snapshot)
//	.  u8    flags: bit 0 remove vanished; other bits zero
type Push struct {
	Type, ID       string
	Patterns       []string
	TransferLast   uint32
	RemoveVanished bool
}

// Append appends the payload encoding of p.
func (p Push) Append(dst []byte) []byte {
	dst = appendStr(dst, p.Type, MaxPushTypeLen)
	dst = appendStr(dst, p.ID, MaxGroupLen)
	dst = appendU16(dst, uint16(len(p.Patterns)))
	for _, s := range p.Patterns {
		dst = appendStr(dst, s, MaxGroupLen)
	}
	dst = appendU32(dst, p.TransferLast)
	fl := byte(0)
	if p.RemoveVanished {
		fl = 1
	}
	return append(dst, fl)
}

// DecodePush decodes a PUSH payload.
func DecodePush(p []byte) (Push, error) {
	d := newDecoder(p, "PUSH")
	m := Push{Type: d.str("type", 0, MaxPushTypeLen), ID: d.str("id", 0, MaxGroupLen)}
	n := int(d.u16("pattern count"))
	if d.err == nil && (n > MaxPushPatterns || 3*n > len(d.b)) {
		d.fail("pattern count %d: want 0..%d, at least 3 bytes each (%d left)", n, MaxPushPatterns, len(d.b))
	}
	if d.err == nil && n > 0 {
		m.Patterns = make([]string, n)
		for i := range m.Patterns {
			m.Patterns[i] = d.str("pattern", 1, MaxGroupLen)
		}
	}
	m.TransferLast = d.u32("transfer last")
	fl := d.u8("flags")
	if d.err == nil && fl&^1 != 0 {
		d.fail("flags %#x: unknown bits", fl)
	}
	m.RemoveVanished = fl&1 != 0
	if err := d.finish(); err != nil {
		return Push{}, err
	}
	return m, nil
}

// PushResult is how a pushed sync ended, sent by the side that pulled to
// the pusher (PUSH_RESULT, a request of the inverted session, answered
// ACK). Code 0 is success; otherwise the Code of the failure (GENERIC if
// none fits) and Message says what failed. The counts are those of
// replicate.Stats, also after a failure (what was done before it).
//
//	0  u16  code (0: done)
//	2  str  message (at most MaxMessageLen)
//	.  u32  groups, snapshots copied, skipped, removed (4 x u32)
//	.  u64  chunks fetched, their bytes, chunks present (3 x u64)
type PushResult struct {
	Code                                Code
	Message                             string
	Groups, Snapshots, Skipped, Removed uint32
	Chunks, Bytes, Present              uint64
}

// Append appends the payload encoding of r.
func (r PushResult) Append(dst []byte) []byte {
	dst = appendStr(appendU16(dst, uint16(r.Code)), r.Message, MaxMessageLen)
	for _, v := range [...]uint32{r.Groups, r.Snapshots, r.Skipped, r.Removed} {
		dst = appendU32(dst, v)
	}
	for _, v := range [...]uint64{r.Chunks, r.Bytes, r.Present} {
		dst = appendU64(dst, v)
	}
	return dst
}

// DecodePushResult decodes a PUSH_RESULT payload.
func DecodePushResult(p []byte) (PushResult, error) {
	d := newDecoder(p, "PUSH_RESULT")
	r := PushResult{Code: Code(d.u16("code"))}
	r.Message = d.str("message", 0, MaxMessageLen)
	r.Groups, r.Snapshots = d.u32("groups"), d.u32("snapshots")
	r.Skipped, r.Removed = d.u32("skipped"), d.u32("removed")
	r.Chunks, r.Bytes, r.Present = d.u64("chunks"), d.u64("bytes"), d.u64("present")
	if err := d.finish(); err != nil {
		return PushResult{}, err
	}
	return r, nil
}
