// Package backup makes snapshots and gets them back.
//
// Making one: Run reads each source (a file or block device for an image
// archive, a directory for a tree archive), cuts it into chunks (fixed-size
// for images, content-defined for trees, see package chunker), hashes and
// stores the chunks in parallel through a Sink, writes the index files and
// the manifest, and commits. A Sink is a snapshot being written: the local
// datastore implements it (store.SnapshotWriter); the network client will
// too. Nothing is visible until Commit; any error aborts.
//
// A tree archive is two streams: the payload (file contents concatenated in
// a sorted depth-first walk, the order cp -a and find read them) and the
// metadata catalog (package catalog). Both are chunked by content, so an
// edit changes only the chunks around it.
//
// Getting one back: OpenSnapshot reads a snapshot through a Source (list and
// fetch only: the datastore now, the network client later), checks every
// index file against the manifest, and gives image streams (io.ReaderAt)
// and trees (a catalog reader plus the payload stream). RestoreImage and
// RestoreTree write them back exactly: contents, mode, owner, mtime (ns),
// symlinks, hardlinks as hardlinks, device nodes, fifos, xattrs, sparse
// files as sparse.
//
// The package does not talk to the network or to FUSE, and it never
// overwrites existing data on restore: targets must not exist (or be an
// empty directory, or a block device for an image).
package backup
