// Package inspect answers questions about snapshots from their manifests,
// index files and metadata catalogs alone, never reading payload: what
// changed between two trees (Diff), where a path or pattern occurs across a
// group's snapshots and when it changed (Find, Versions), and how much data
// snapshots hold and share (Usage). The commands snapshots, stats, diff and
// find of cmd/backupfs print what it returns; it works over any
// backup.Repository, the local datastore or a server.
//
// # Decisions
//
//   - Diff compares metadata only (type, size, mtime, mode, owner, symlink
//     or hardlink target, device number, xattrs), as a catalog holds no
//     per-file content digest: a file rewritten with the same size and
//     mtime is not reported (restic compares content blob ids and would;
//     here a content check would read payload, which the issue forbids).
//     Directories are compared by mode, owner and xattrs, not mtime (a
//     directory's mtime changes with every child added or removed, which
//     the children's own lines already say). A path only in one tree is
//     listed with everything under it.
//   - A pattern without "/" matches base names; one with "/" matches whole
//     archive paths ("/etc/fstab", "/home/*/.bashrc"), a missing leading "/"
//     implied. Globs are path.Match's. A pattern with no glob characters
//     that names one path is looked up, not walked for: `find /etc/fstab`
//     reads one directory table per path element in each snapshot.
//   - Usage's "new" bytes of a snapshot are the plain bytes of the chunks
//     no earlier snapshot of its group references (Proxmox Backup's "new"
//     in its snapshot list); the dedup ratio is logical bytes over the
//     plain bytes of the distinct chunks, all-zero chunks included.
package inspect
