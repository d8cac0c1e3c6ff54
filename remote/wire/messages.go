package wire

// Ping is the payload of PING and of the PONG answering it.
//
//	0  8  nonce u64
type Ping struct{ Nonce uint64 }

// Append appends the payload encoding of p.
func (p Ping) Append(dst []byte) []byte { return appendU64(dst, p.Nonce) }

// DecodePing decodes a PING or PONG payload.
func DecodePing(p []byte) (Ping, error) {
	d := newDecoder(p, "PING")
	m := Ping{Nonce: d.u64("nonce")}
	if err := d.finish(); err != nil {
		return Ping{}, err
	}
	return m, nil
}

// DecodeEmpty checks the payload of a message that has none: GOODBYE,
// CANCEL, LIST_GROUPS, BACKUP_ABORT.
func DecodeEmpty(t Type, p []byte) error {
	return newDecoder(p, t.String()).finish()
}

// Groups is a GROUPS answer frame; FlagMore if another follows.
//
//	0  4  count u32 (<= MaxGroups)
//	4  .. count x str "type/id" (1..MaxGroupLen bytes)
type Groups struct{ Groups []string }

// Append appends the payload encoding of g.
func (g Groups) Append(dst []byte) []byte {
	dst = appendU32(dst, uint32(len(g.Groups)))
	for _, s := range g.Groups {
		dst = appendStr(dst, s, MaxGroupLen)
	}
	return dst
}

// DecodeGroups decodes a GROUPS payload.
func DecodeGroups(p []byte) (Groups, error) {
	d := newDecoder(p, "GROUPS")
	n := d.u32("count")
	// Each group takes at least 3 bytes, so the count is also bounded by
	// the payload left: no allocation beyond what the payload backs.
	if d.err == nil && (n > MaxGroups || uint64(n)*3 > uint64(len(d.b))) {
		d.fail("count %d: at most %d, and 3 bytes each (%d left)", n, MaxGroups, len(d.b))
	}
	if d.err != nil {
		return Groups{}, d.err
	}
	g := Groups{Groups: make([]string, 0, n)}
	for i := uint32(0); i < n && d.err == nil; i++ {
		g.Groups = append(g.Groups, d.str("group", 1, MaxGroupLen))
	}
	if err := d.finish(); err != nil {
		return Groups{}, err
	}
	return g, nil
}

// ListSnapshots is a LIST_SNAPSHOTS request.
//
//	0  .. group str (1..MaxGroupLen)
type ListSnapshots struct{ Group string }

// Append appends the payload encoding of l.
func (l ListSnapshots) Append(dst []byte) []byte { return appendStr(dst, l.Group, MaxGroupLen) }

// DecodeListSnapshots decodes a LIST_SNAPSHOTS payload.
func DecodeListSnapshots(p []byte) (ListSnapshots, error) {
	d := newDecoder(p, "LIST_SNAPSHOTS")
	l := ListSnapshots{Group: d.str("group", 1, MaxGroupLen)}
	if err := d.finish(); err != nil {
		return ListSnapshots{}, err
	}
	return l, nil
}

// Snapshots is a SNAPSHOTS answer: snapshot times, oldest first.
//
//	0  4  count u32 (<= MaxSnapshots)
//	4  .. count x time i64 (unix seconds), strictly increasing
type Snapshots struct{ Times []int64 }

// Append appends the payload encoding of s.
func (s Snapshots) Append(dst []byte) []byte {
	dst = appendU32(dst, uint32(len(s.Times)))
	for _, t := range s.Times {
		dst = appendI64(dst, t)
	}
	return dst
}

// DecodeSnapshots decodes a SNAPSHOTS payload. It refuses times that are
// not strictly increasing.
func DecodeSnapshots(p []byte) (Snapshots, error) {
	d := newDecoder(p, "SNAPSHOTS")
	n := d.u32("count")
	if d.err == nil && (n > MaxSnapshots || uint64(n)*8 != uint64(len(d.b))) {
		d.fail("count %d: at most %d, and 8 bytes each (%d left)", n, MaxSnapshots, len(d.b))
	}
	if d.err != nil {
		return Snapshots{}, d.err
	}
	s := Snapshots{Times: make([]int64, n)}
	for i := range s.Times {
		s.Times[i] = d.i64("time")
		if i > 0 && s.Times[i] <= s.Times[i-1] {
			d.fail("time %d after %d: not oldest first", s.Times[i], s.Times[i-1])
			break
		}
	}
	if err := d.finish(); err != nil {
		return Snapshots{}, err
	}
	return s, nil
}

// GetFile is a GET_FILE request; the answer is FILE_DATA frames.
//
//	0  .. group str (1..MaxGroupLen)
//	.. 8  time i64
//	.. .. name str (1..MaxFileNameLen): manifest.json or an index file name
type GetFile struct {
	Group string
	Time  int64
	Name  string
}

// Append appends the payload encoding of g.
func (g GetFile) Append(dst []byte) []byte {
	dst = appendStr(dst, g.Group, MaxGroupLen)
	dst = appendI64(dst, g.Time)
	return appendStr(dst, g.Name, MaxFileNameLen)
}

// DecodeGetFile decodes a GET_FILE payload.
func DecodeGetFile(p []byte) (GetFile, error) {
	d := newDecoder(p, "GET_FILE")
	g := GetFile{Group: d.str("group", 1, MaxGroupLen), Time: d.i64("time")}
	g.Name = d.str("name", 1, MaxFileNameLen)
	if err := d.finish(); err != nil {
		return GetFile{}, err
	}
	return g, nil
}
