package fs

import (
	"hash/fnv"
	"strconv"
	"sync"
)

// Inode numbers. The synthetic nodes (types, groups, snapshots, archives,
// history) hash their names: inoOf, top bit clear. A tree archive's
// entries are numbered in catalog order instead: top bit set, the
// archive's slot in the next 23 bits and the entry's Pos (its offset in
// the catalog stream) in the low 40. Within one directory that order is
// the name order of the table, which is the order the backup walked and
// wrote the payload stream in. It matters because cp (gnulib savedir,
// SAVEDIR_SORT_FASTREAD) and other tools copy a directory's entries in
// d_ino order: with hashed numbers cp -a read every directory's files in
// a random order, so the payload stream was read back and forth, the
// cache's readahead saw random access, and most small files waited for a
// fetch of their own (measured: cp -a of the bench tree with --no-xattrs
// 6.2 s cold against 2.1 s warm).
const (
	treeInoBit = 1 << 63
	posBits    = 40
	slotBits   = 23
	posMask    = 1<<posBits - 1
	slotMask   = 1<<slotBits - 1
	noSlot     = ^uint64(0)
)

// inoOf hashes its parts into an inode number that is neither 0 nor the
// root's 1, with the top bit (tree entries') clear.
func inoOf(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	ino := h.Sum64() &^ treeInoBit
	if ino < 2 {
		ino += 2
	}
	return ino
}

// inoSlots gives each tree archive a mount opens a slot of its own: the
// hash of its name, or, if another archive of this mount holds that slot,
// the next free one. So an archive's numbers are the same in every mount
// unless two of the archives one mount opened collide (1 in 8 million per
// pair), and unique within a mount always. It keeps an entry per archive
// the mount opened (about 100 bytes) for the mount's life: an archive
// opened again must get its old slot, or the kernel's inodes of it would
// change numbers.
type inoSlots struct {
	mu    sync.Mutex
	of    map[string]uint64 // archive ("type/id/time/NAME.tree") -> slot
	taken map[uint64]bool
}

// slot returns where's slot, or noSlot once every slot is taken.
func (s *inoSlots) slot(where string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl, ok := s.of[where]; ok {
		return sl
	}
	if s.of == nil {
		s.of, s.taken = map[string]uint64{}, map[uint64]bool{}
	}
	if len(s.taken) > slotMask {
		return noSlot
	}
	sl := inoOf("tree", where) & slotMask
	for s.taken[sl] {
		sl = (sl + 1) & slotMask
	}
	s.of[where], s.taken[sl] = sl, true
	return sl
}

// treeIno numbers the entry at pos of the archive in slot; a catalog
// beyond 1 TiB (or a mount out of slots) falls back to a hash, unordered.
func treeIno(slot uint64, where string, pos uint64) uint64 {
	if slot == noSlot || pos > posMask {
		return inoOf("entry", where, strconv.FormatUint(pos, 10))
	}
	return treeInoBit | slot<<posBits | pos
}
