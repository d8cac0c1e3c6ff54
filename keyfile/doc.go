// Package keyfile owns backupfs's key files: the secret a sealed
// (client-side encrypted) backup is made with, kept sealed under a
// passphrase, its public fingerprint, and a paper copy a person can type
// back in.
//
// # What a key is
//
// One 32-byte random master secret. Every key the sealing code uses is
// derived from it with HKDF-SHA256 under its own label (Derive), so one
// secret is all a file, a paper copy or a passphrase change carries. The
// fingerprint is 16 bytes derived the same way under a label of its own:
// it names the key (ls shows which key sealed a snapshot) and tells a
// wrong key file from a right one, and says nothing about the secret.
//
// # The file
//
// JSON, at most MaxFileSize bytes: a format version, the fingerprint, the
// creation time, the passphrase KDF (argon2id, with its time, memory and
// thread parameters and a 16-byte salt) and the master secret sealed with
// XChaCha20-Poly1305 under the KDF's output, with every other field of
// the file as associated data, so changing a parameter or the fingerprint
// makes the file fail to open rather than yield another key. A wrong
// passphrase and a tampered file are both ErrPassphrase (the AEAD cannot
// tell them apart); a file that does not parse, or asks for KDF
// parameters beyond the bounds (at most 4 GiB of memory, 64 passes, 64
// threads: a crafted file must not make opening it exhaust the machine),
// is ErrFormat.
//
// # Decisions
//
//   - argon2id (RFC 9106) rather than scrypt: the issue allows either;
//     argon2id is the RFC's recommendation for password hashing and what
//     current tools (restic's successor formats, age's scrypt aside) move
//     to. Create calibrates it on the machine making the key: 64 MiB, as
//     many threads as CPUs (at most 4), and as many passes as reach about
//     half a second (Calibrate), the figure; the parameters are
//     stored, so a slower machine opening the file takes longer but
//     gets the same key.
//   - The paper key is the master secret and a 4-byte checksum in base32
//     (RFC 4648, no padding), in groups of five letters: 58 letters, read
//     back ignoring case, spaces and dashes; a mistyped letter fails the
//     checksum (ErrPaperKey) instead of making another key.
package keyfile
