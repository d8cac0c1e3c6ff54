// Package backup makes snapshots and gets them back.
//
// Making one: Run reads each source (a file or block device for an image
// archive, a directory for a tree archive), cuts it into chunks (fixed-size
// for images, content-defined for trees, see package chunker), hashes and
// stores the chunks in parallel through a Sink, writes the index files and
// the manifest, and commits. A Sink is a snapshot being written: the local
// datastore implements it (store.SnapshotWriter), and so does the network
// client (client.Backup). Nothing is visible until Commit; any error aborts.
//
// A tree archive is two streams: the payload (file contents concatenated in
// a sorted depth-first walk, the order cp -a and find read them) and the
// metadata catalog (package catalog). Both are chunked by content, so an
// edit changes only the chunks around it.
//
// Change detection: with Options.Previous, a regular file whose size, mtime
// (ns), mode and owner equal its entry in the previous snapshot's tree is
// not read; the previous payload chunks holding its bytes are appended to
// the new payload index as they are (a "reuse run", so a chunk shared by
// neighbouring unchanged files is appended once), and the new entry points
// into them. Chunks may therefore carry bytes no entry references (padding);
// a run starts only while padding stays small (see reuse.go). Xattrs and
// all other metadata always come from the new walk. An edit that keeps size
// and mtime is missed, as in borg and restic; a nil Previous reads all.
//
// Getting one back: OpenSnapshot reads a snapshot through a Source (list and
// fetch only: the datastore or the network client), checks every
// index file against the manifest, and gives image streams (io.ReaderAt)
// and trees (a catalog reader plus the payload stream). RestoreImage and
// RestoreTree write them back exactly: contents, mode, owner, mtime (ns),
// symlinks, hardlinks as hardlinks, device nodes, fifos, xattrs, sparse
// files as sparse. A tree restore goes on past an entry it cannot restore
// (a corrupt or missing chunk) and lists the failures in its error
// (IncompleteError); a file is written under a temporary name and renamed
// when whole, so a damaged file is never left under its name.
//
// The package does not talk to the network or to FUSE, and it never
// overwrites existing data on restore: targets must not exist (or be an
// empty directory, or a block device for an image).
package backup
