package wire

import "github.com/backupfs/backupfs/catalog"

// BackupBegin starts a backup of a group at a time.
//
//	0  .. group str (1..MaxGroupLen)
//	.. 8  time i64
type BackupBegin struct {
	Group string
	Time  int64
}

// Append appends the payload encoding of b.
func (b BackupBegin) Append(dst []byte) []byte {
	return appendI64(appendStr(dst, b.Group, MaxGroupLen), b.Time)
}

// DecodeBackupBegin decodes a BACKUP_BEGIN payload.
func DecodeBackupBegin(p []byte) (BackupBegin, error) {
	d := newDecoder(p, "BACKUP_BEGIN")
	b := BackupBegin{Group: d.str("group", 1, MaxGroupLen), Time: d.i64("time")}
	if err := d.finish(); err != nil {
		return BackupBegin{}, err
	}
	return b, nil
}

// BackupReady answers BACKUP_BEGIN: the previous snapshot the server
// holds as the session's base, the chunks of that base the datastore lacks
// (verify found them corrupt or missing: the client must upload them, not
// take them from the base), and a note for the user (why there is no
// base, say), possibly empty.
//
//	0  8  previous snapshot time i64 (0: none)
//	8  4  lacking count u32 (0..MaxLacking; 0 when previous is 0)
//	12 .. count x digest (32 bytes)
//	.. .. note str (0..MaxMessageLen)
type BackupReady struct {
	Previous int64
	Lacking  []catalog.Digest
	Note     string
}

// Append appends the payload encoding of b.
func (b BackupReady) Append(dst []byte) []byte {
	dst = appendU32(appendI64(dst, b.Previous), uint32(len(b.Lacking)))
	for i := range b.Lacking {
		dst = append(dst, b.Lacking[i][:]...)
	}
	return appendStr(dst, b.Note, MaxMessageLen)
}

// DecodeBackupReady decodes a BACKUP_READY payload.
func DecodeBackupReady(p []byte) (BackupReady, error) {
	d := newDecoder(p, "BACKUP_READY")
	b := BackupReady{Previous: d.i64("previous")}
	n := int(d.u32("lacking count"))
	if d.err == nil && (n > MaxLacking || n*catalog.DigestSize > len(d.b) || (n > 0 && b.Previous == 0)) {
		d.fail("lacking count %d: want 0..%d, none without a previous snapshot, and %d bytes each (%d left)", n, MaxLacking, catalog.DigestSize, len(d.b))
	}
	if d.err == nil && n > 0 {
		b.Lacking = make([]catalog.Digest, n)
		for i := range b.Lacking {
			b.Lacking[i] = d.digest("lacking")
		}
	}
	b.Note = d.str("note", 0, MaxMessageLen)
	if err := d.finish(); err != nil {
		return BackupReady{}, err
	}
	return b, nil
}

// Ack answers UPLOAD_CHUNK, the last UPLOAD_FILE, BACKUP_FINISH and
// BACKUP_ABORT.
//
//	0  1  flags u8: bit 0 NEW (the chunk was stored; clear: the server had it); others zero
type Ack struct{ New bool }

const ackNew = 1 << 0

// Append appends the payload encoding of a.
func (a Ack) Append(dst []byte) []byte {
	if a.New {
		return append(dst, ackNew)
	}
	return append(dst, 0)
}

// DecodeAck decodes an ACK payload.
func DecodeAck(p []byte) (Ack, error) {
	d := newDecoder(p, "ACK")
	f := d.u8("flags")
	if d.err == nil && f&^ackNew != 0 {
		d.fail("flags %#02x", f)
	}
	if err := d.finish(); err != nil {
		return Ack{}, err
	}
	return Ack{New: f&ackNew != 0}, nil
}

// BackupFinish ends a backup with its manifest.
//
//	0  .. the manifest JSON (1..MaxManifest bytes), the whole payload
type BackupFinish struct{ Manifest []byte }

// Append appends the payload encoding of b.
func (b BackupFinish) Append(dst []byte) []byte { return append(dst, b.Manifest...) }

// DecodeBackupFinish decodes a BACKUP_FINISH payload; Manifest aliases p.
// It does not parse the JSON (catalog.DecodeManifest does).
func DecodeBackupFinish(p []byte) (BackupFinish, error) {
	d := newDecoder(p, "BACKUP_FINISH")
	if len(p) == 0 || len(p) > MaxManifest {
		d.fail("manifest of %d bytes, want 1..%d", len(p), MaxManifest)
	}
	b := BackupFinish{Manifest: d.rest()}
	if err := d.finish(); err != nil {
		return BackupFinish{}, err
	}
	return b, nil
}
