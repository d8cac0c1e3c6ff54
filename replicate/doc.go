// Package replicate copies snapshots from one repository to a datastore:
// backupfs sync, the offsite half of a backup plan (Proxmox Backup's sync
// jobs, restic copy, zrepl's pull replication). Push mode (package
// replicate/push) runs the same Pull on the target, over a connection the
// source dialed.
//
// # What a sync does
//
// For each group the source has that the filter selects, oldest snapshot
// first, every snapshot the target lacks (at most the newest TransferLast
// of the source's, if set) is copied: its manifest and index files are
// read and checked against each other, the chunks the target does not have
// are fetched as stored blobs in batches and put into the target's chunk
// store (checked there again: a plain blob by its SHA-256, a sealed one by
// its CRC, as a server checks an upload), and only then is the snapshot
// begun, its index files written and its manifest committed under its
// original time: published by one rename, after the commit found every
// referenced chunk. A snapshot that exists on the target is skipped; with
// RemoveVanished, the target's snapshots of a selected group that the
// source no longer has are forgotten.
//
// # Interruption
//
// Chunks are put straight into the target's chunk store, outside any
// snapshot writer, so a sync that fails or is killed keeps what arrived:
// the next one finds those chunks present and fetches only the rest (the
// target's gc keeps unreferenced chunks for its grace period, a day by
// default, so resuming within it costs nothing again). The snapshot
// itself is never partly published.
//
// # Decisions
//
//   - A sealed snapshot is copied as it is, without its key: its blobs
//     are opaque to the target, which checks their CRC.
//   - Groups are selected by path.Match patterns on "type/id" (vm/*), and
//     by the location's /TYPE[/ID]. A group that vanished from the source
//     is left alone unless RemoveVanished and the filter selects it.
//   - Snapshots of a group are copied oldest first, so an interrupted
//     sync leaves the target with a prefix of the source's history,
//     never a gap that a later run would fill out of order.
package replicate
