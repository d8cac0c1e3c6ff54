package catalog

// Index maps byte offsets of an archive stream to chunks. FixedIndex and
// DynamicIndex implement it; both keep their digest table as one byte
// slice, so an index costs its encoded size in memory and no more.
type Index interface {
	// Size is the length of the stream in bytes.
	Size() uint64
	// NumChunks is the number of chunks.
	NumChunks() int
	// Chunk returns chunk i's byte range [start, end) and digest.
	// It panics if i is out of range (a programming error, not input).
	Chunk(i int) (start, end uint64, d Digest)
	// Find returns the chunk holding byte off, or -1 if off >= Size().
	Find(off uint64) int
}
