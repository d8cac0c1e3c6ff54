// Package fs is backupfs's FUSE file system (go-fuse v2): a read-only view
// of a repository's groups, snapshots and archives, read through the chunk
// cache (package cache).
//
// # What it shows
//
// The root depends on Options.Ref: the group types that have groups (vm/,
// ct/, host/), one type's group ids, one group's snapshots (plus a "latest"
// symlink to the newest), or one snapshot. A snapshot directory holds its
// archives: NAME.img is a regular file of the image's size (loop-mountable),
// NAME.tree is a directory named NAME (NAME.tree if NAME is taken by an
// image). Inside a tree every catalog entry appears with its mode, owner,
// size, mtime (also used as atime and ctime), st_blocks, symlink target,
// device numbers and xattrs. Hardlinks share one inode number.
//
// # History
//
// Each group directory has a hidden GROUP/.history (history.go): under
// .history/ARCHIVE/PATH, a directory for every directory some snapshot has
// there (its entries the union of theirs), and for every other entry a
// directory of its distinct versions, one symlink per snapshot where it
// appeared or its metadata changed (inspect.Differences), named by the
// snapshot's time and pointing at ../../TIME/ARCHIVE/PATH. It is built
// from the catalogs when looked at, one directory table per path element
// per snapshot, and is left out of the group's listing so find, du and
// cp -a of a group never walk every path of every snapshot again.
//
// # Inode numbers
//
// Stable across mounts. A tree archive's entry is numbered by its
// position in the catalog: top bit set, a 23-bit slot for the archive
// (its name's hash, or the next free slot if another archive this mount
// opened holds it) and its entry position in the catalog stream in the low
// 40 bits (ino.go). Within a directory the numbers so ascend in name order,
// the order the backup wrote the payload in, and cp, which copies a
// directory's entries in d_ino order, reads the payload forward (with
// hashed numbers it read each directory in a random order and most small
// files missed the cache's readahead). A hardlink uses the position of
// its first link, found once by LookupPath and remembered per archive.
// The synthetic nodes hash their names (FNV-1a, top bit clear).
// Directories report nlink 2 plus their subdirectories; a file reports 2
// once a hardlink to it was seen (the catalog has no link count), else 1.
//
// # Laziness and caching
//
// Nothing proportional to the repository happens at mount time: Root reads
// at most one snapshot list and one manifest. Group and snapshot lists are
// fetched on first use and refreshed when older than Options.Refresh (and
// at most once a second when a snapshot name is missing), so new snapshots
// appear and "latest" moves without remounting; entries above snapshots get
// one-second kernel timeouts.
//
// # Snapshots forgotten or pruned while mounted
//
// The server tells no one, so the mount learns it when it next reads one
// of the snapshot's files (its manifest or an index file) and is told the
// file does not exist (Repository errors wrap io/fs.ErrNotExist). It then
// fetches the group's list at once; if the snapshot left it, the kernel is
// told to forget the group's entries for it and "latest" and the group's
// listing, and the request answers ESTALE, which makes the kernel walk
// the path once more revalidating every entry: a path through "latest"
// then leads to the newest snapshot left (never ENOENT), a path through
// the snapshot's own name ends in ENOENT, and the next listing of the
// group lacks it. The group starts reading the manifest of its newest
// snapshot when it looks it up (without waiting for it), so "ls latest"
// after the newest went away lists what was read rather than failing. What the mount already holds of a forgotten
// snapshot (an opened manifest or archive) keeps answering until the
// list's next refresh (Options.Refresh) drops the snapshot; its chunks
// stay readable until the server's gc removes them (then EIO). A snapshot's manifest loads on first access,
// an archive's index files on first lookup or open (listing a snapshot
// with READDIRPLUS gives a tree not opened yet no attributes, so a plain
// ls of a fresh mount reads no index: 1 ms instead of ~14 ms), a tree directory's
// table on first lookup, getattr or readdir (one table read, kept with the
// node; lookups are binary searches in it, readdir is the sorted table).
// Inside snapshots nothing ever changes, so entries, attributes and
// negative lookups are cached by the kernel for an hour, directory
// listings with FOPEN_CACHE_DIR and file pages with FOPEN_KEEP_CACHE.
// When the kernel offers zero-message opendirs (Linux 5.1+,
// FUSE_NO_OPENDIR_SUPPORT), OPENDIR answers ENOSYS and the kernel lists
// directories without opening them (StatelessDirs opens a handle inside the
// process for each handle-less READDIRPLUS): a cold find sends two requests
// per directory instead of four, and every listing is cached; the
// directories above snapshots keep theirs fresh through their mtime, which
// changes with their listing.
//
// # Reads
//
// Reads use the offset only: each open file handle owns a
// cache.ReadState (for the cache's readahead) and holds no lock across
// I/O and no position. When the kernel offers zero-message opens (Linux
// 4.19+, FUSE_NO_OPEN_SUPPORT), Open answers ENOSYS: the kernel then
// opens files itself (FOPEN_KEEP_CACHE implied) and never sends OPEN or
// RELEASE again, and reads come without a handle and use the node's own
// (one per file, or per image). Flush answers ENOSYS, so close sends
// nothing either. For cp -a of a tree that removes three of the seven
// requests per file (the other four: READ, two LISTXATTR and a GETXATTR
// of system.posix_acl_access, which the protocol cannot cache; with
// Options.NoXattrs the first ENOSYS makes the kernel stop asking, at
// the price of showing no xattrs). After the kernel reads a whole small
// file, store-ahead pushes the next small files of its directory whose
// bytes the chunk cache already holds into the kernel's page cache
// (NOTIFY_STORE), so their READs never come: about two thirds of cp -a's.
// A tree file reads its archive's payload stream at
// PayloadOffset, bounded by its size; a stream that ends early is an error,
// never zeros.
//
// # Xattrs are shown by default (a decision, 2026-12-07)
//
// cp -a asks for every entry's xattrs: LISTXATTR twice and GETXATTR of
// system.posix_acl_access once, 79,000 of the 88,000 requests of a cp -a
// of the bench tree, each a round trip the kernel never caches (30-43 us
// here, against 22-26 us for a pipe between two processes: the machine's
// floor). The copy of that tree out of a mount that already holds every
// page (bench/run's warm row) takes 5.2-5.8 s with them and 2.1 s
// without (--no-xattrs), against 2.8-2.9 s for backupfs restore. So no
// cp -a that gets the xattrs can come within 1.2 x of restore on this
// machine, however the data arrives. They stay shown anyway: a restore
// by cp -a must keep file capabilities, SELinux labels, ACLs and Samba's
// attributes, and the kernel's only way to stop asking (an ENOSYS, then
// EOPNOTSUPP for every file) holds for the whole connection, so a mount
// cannot hide them just for archives that have none, nor learn at mount
// time that no snapshot it will show has any. --no-xattrs is for copies
// where they do not matter.
//
// # Wake-ups
//
// Each request the caller waits for is a round trip between processes,
// and on a machine whose idle CPUs are slow to wake (a VM with halting
// vCPUs most of all) the wake-ups cost more than the work. While requests
// flow (4 within 2 ms start it, fewer than 4 in 100 ms end it),
// latencyHint holds a zero-latency PM QoS request (/dev/cpu_dma_latency,
// root only) so idle CPUs poll instead of halting: cp -a of a tree about
// 30% faster, find 30-40% on the development VM. A program that only
// polls a file now and then does not start it. Options.NoLatencyHint
// turns it off; without root it turns itself off.
//
// # Errors
//
// Errors become errno in one place (errno.go): a snapshot gone from the
// repository is ESTALE (see above), a missing name is ENOENT, a
// cancelled request (the kernel's interrupt) EINTR, and anything else EIO
// with one log line naming the operation, the archive and the error (the
// cache's error names the offset and digest). Every write operation fails
// with EROFS.
//
// # Unmounting
//
// A mount never ends as a dead mount ("Transport endpoint is not
// connected") while its process decides. The decision, for Ctrl-C or
// SIGTERM to `backupfs mount` (cmd/backupfs endMount): an unused mount is
// unmounted; a busy one (a process has a file open or its working
// directory in it) is detached lazily (Detach, umount -l semantics) and
// served until the last process lets go, then the command ends; stderr
// names the mountpoint and says that a second signal ends at once (the
// holders' reads then fail; the mountpoint is still free). Detaching keeps
// the promise the first signal asks for (the mountpoint is free and a new
// mount may go there) without breaking a shell or a copy still in it, as
// gocryptfs and `fusermount -u -z` users expect; refusing to end would
// leave the user to find the holder first, and ending anyway is what
// leaves dead mounts behind rclone (rclone issue 7766).
//
// # What it must not do
//
// It never writes to the repository, never reads a chunk except through
// the cache, never returns bytes it has not read from a verified chunk, and
// never loads more of a catalog than the directories being looked at.
package fs
