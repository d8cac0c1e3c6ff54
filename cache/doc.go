// Package cache is the mount's chunk cache. It sits between the FUSE layer
// and a chunk Source (the network client or a local store) and turns
// "bytes [off, off+n) of an archive stream" into verified plain bytes.
//
// # Contract
//
//   - Memory: verified plain chunks are kept in a least-recently-used cache
//     bounded by the sum of chunk lengths (Options.Size), built on
//     golang-lru/v2's simplelru with byte accounting done here. Readahead
//     fetches in flight are bounded too (Options.Readahead bytes), so the
//     memory held is at most Size + Readahead + the chunks of demand reads
//     in flight. SetReserve lends part of Size to the rest of the process
//     (the mount's inodes): the cache then keeps Size less the reserve,
//     never under Size/4, and reads ahead at most half of that.
//   - Single flight: however many readers want a chunk, it is fetched once.
//     Fetches run detached from their callers: a caller whose context is
//     cancelled gets ctx.Err() at once, and the fetch goes on for the
//     others and still fills the cache. Failed fetches are not cached; the
//     next read tries again.
//   - All-zero chunks of every size (recognised by digest and size: the
//     digest of that many zeros, catalog.MatchZeroChunk) are never fetched, read
//     ahead or kept in memory: they are served from one shared read-only
//     zero buffer. Sizes catalog.IsZeroChunk does not know (an image's
//     tail, a stream's last chunk) are checked where a fetch would start,
//     at a cost of at most 4 KiB of hashing per new size.
//   - Bytes returned by Cache.Chunk are shared and read-only. Callers copy
//     out of them and never write to them.
//   - The Source returns verified bytes (it checks the SHA-256); the cache
//     checks the length against the index and does not hash again on a hit.
//
// # Readahead
//
// Stream.ReadAt reads by offset only: no seek position, no lock held across
// I/O. A ReadState (one per open file, optional) sees when one handle reads
// forward; the Stream itself sees when successive reads from any handle
// walk the stream forward (cp -a of many small files reads a tree archive's
// payload in order). A handle reading forward decides alone, and reads
// ahead no further than its ReadState's Bound (the end of its file in a
// tree's payload); otherwise the Stream's pattern decides. Readahead
// fetches the next chunks in
// the background with demand=false (low priority at the Source), in a
// window that starts at 256 KiB or two chunks and doubles, at most once per
// chunk consumed, up to Options.Readahead. Reads that land a little behind
// or ahead of the previous end (the kernel issues async reads out of order)
// still count as sequential; anything else is random access and resets the
// window. A run is sequential from its third read: random reads that land
// near each other by chance (two in a row) do not read ahead. Up to 64
// readahead fetches are in flight (and at most Options.Readahead bytes), so
// a Source that batches them (client.Client) fills its batches. Readahead
// never blocks a read: it runs in its own goroutines, and a demand read of
// a chunk being read ahead waits for that same fetch; the first such read
// tells a Source that implements Promoter, which may then raise the
// fetch's priority.
//
// # Disk tier
//
// With Options.Dir, fetched chunks are also written to Dir/<2 hex>/<64 hex>
// (plain bytes; the name is the digest). A read checks the length and the
// SHA-256 before trusting a file; a bad file is deleted and the chunk
// fetched again. Writes are best effort (temporary file, then rename): a
// failure (read-only or full disk) is logged once and never fails a read.
// When the tier exceeds Options.DirSize the least recently used files (by
// modification time, refreshed on each hit) are removed, down to 90% of
// the bound. The bound counts the entries' bytes, not the directories
// holding them (at most 256, a block each: du -sb shows up to 1 MiB more
// on ext4; integration's TestCacheDirSizeBound allows 4 KiB a directory).
// A new Cache on the same Dir uses what an earlier one left.
//
// # What it must not do
//
// It never returns bytes that do not match the requested chunk, never
// substitutes zeros for data, never lets one caller's cancellation fail
// another caller, and never fails a read because the disk tier failed.
package cache
