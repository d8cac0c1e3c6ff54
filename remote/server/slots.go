package server

import (
	"github.com/backupfs/backupfs/catalog"
	"github.com/backupfs/backupfs/remote/wire"
	"github.com/backupfs/backupfs/store"
)

// srvBlobSlots is how many blobs one connection reads from disk at a time,
// for readahead and for demand reads: it bounds the memory a connection's
// GET_CHUNKS hold while their answers wait in the queue (slots x blob
// size: 3 MiB at 128 KiB chunks, 192 MiB for the largest chunks). A cold
// disk needs many reads in flight: reading this datastore's 7937 blob files
// cold took 2.09 s 4 at a time, 1.01 s 16 at a time, 0.81 s 64 at a time.
var srvBlobSlots = [2]int{16, 8}

// srvReadConcurrency is what a Datastore whose every read pays a round
// trip (the object store: an HTTP request, and on the store's side a cold
// file and its metadata) implements to say how many reads it wants in
// flight. A connection then reads that many readahead blobs at a time and
// a quarter as many demand blobs (never fewer than srvBlobSlots). Measured
// (bench/s3.sh's image through a server on versitygw, cold): dd 1.6-2.2 s
// with 64 readahead reads at a time, 2.7-3.5 s with 16; the directory
// datastore's 1.1-1.9 s and 1.3-1.5 s, about the same.
type srvReadConcurrency interface{ ReadConcurrency() int }

// srvSlots is the blob reads at a time (readahead, demand) on st.
func srvSlots(st store.Datastore) [2]int {
	slots := srvBlobSlots
	if rc, ok := st.(srvReadConcurrency); ok {
		n := rc.ReadConcurrency()
		slots = [2]int{max(slots[0], n), max(slots[1], n/4)}
	}
	return slots
}

// srvBlobBytes bounds the bytes of the blobs one connection holds in its
// slots, whatever their number: the default slots' worst case (every one
// holding a blob of the largest size). More slots help small chunks only.
const srvBlobBytes = int64(24) * (wire.HeaderSize + catalog.DigestSize + store.MaxBlobSize)
