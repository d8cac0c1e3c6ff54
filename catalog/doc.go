// Package catalog owns backupfs's on-disk and on-wire formats: digests,
// group and snapshot names, the manifest, the fixed index (image archives),
// the dynamic index (tree archives) and the tree metadata catalog.
//
// Everything here is pure encode/decode over bytes, io.Reader and
// io.ReaderAt: no files are opened, no network is used. Every decoder bounds
// every length against the bytes it was given (or a documented maximum)
// before it allocates, and returns an error wrapping one of the package's
// sentinels (ErrFormat, ErrVersion, ErrChecksum, ErrName) on bad input; it
// never panics on input.
//
// All integers are little-endian. Every binary format starts with an 8-byte
// magic and a version number; the layouts are documented next to the code
// that writes them.
package catalog

import "errors"

// Sentinel errors; decoders wrap them with context.
var (
	// ErrFormat reports bytes that are not a valid encoding (bad magic,
	// truncated, lengths out of bounds, unsorted tables).
	ErrFormat = errors.New("catalog: bad format")
	// ErrVersion reports a format version this build does not read.
	ErrVersion = errors.New("catalog: unsupported version")
	// ErrChecksum reports a checksum or digest that does not match.
	ErrChecksum = errors.New("catalog: checksum mismatch")
	// ErrName reports an invalid group, id, time or archive name.
	ErrName = errors.New("catalog: invalid name")
	// ErrNotExist reports a path or name that is not in a catalog.
	ErrNotExist = errors.New("catalog: no such entry")
)
