// Package auth holds the backupfs server's secrets and the checks made with
// them: access tokens (who may read or back up which groups) and the TLS
// certificate that clients pin by its SHA-256 fingerprint.
//
// # Where secrets live
//
// Everything is kept in the datastore directory, under DIR/.auth/ (mode
// 0700; every file in it 0600):
//
//	tokens.json   the token file (names, rules, creation times, SHA-256 of each secret)
//	tokens.lock   flock(2) target serialising writers of tokens.json and the certificate
//	cert.pem      the server's self-signed certificate
//	key.pem       its ECDSA P-256 private key
//
// The store package ignores dot-directories it does not know, so .auth
// lives beside the data without upsetting it. One ordering rule: store.Init
// refuses to lay out a datastore in a non-empty directory, so the datastore
// is made (backupfs init) before OpenTokens or LoadOrCreateCert create .auth
// in it, and a server opens the store first.
//
// # Tokens
//
// A secret reads "bfs1.NAME.SECRET": the version tag, the token's name (a
// group-id-like string, so a log line can say who connected without the
// secret) and 43 characters of unpadded base64url holding 32 bytes from
// crypto/rand. Only SHA-256 of the whole secret string is stored. A 256-bit
// random secret cannot be guessed or brute-forced from its hash, so a slow
// password hash (bcrypt, argon2) would add cost and nothing else. Hashes are
// compared in constant time.
//
// Writers (Create, Revoke) take an exclusive flock on tokens.lock, re-read
// the file, change it and replace it atomically (temporary file, fsync,
// rename, fsync of the directory), so two `backupfs token create` processes
// never lose each other's token. Readers never lock: a rename makes them
// see the old file or the new one, never a part.
//
// A running server sees tokens created or revoked by another process
// without a restart: Authenticate and Valid stat the file on every call
// and re-read it when its inode, size, mtime or ctime changed, so a revoke
// takes effect for the next authentication at once. A Grant is a snapshot:
// a connection that was already authenticated keeps its Grant after a
// revoke. A server holding long-lived connections calls Valid(grant.Name)
// now and then (or per request) and closes connections whose token is gone.
// If the token file cannot be read or decoded, Authenticate and Valid fail
// closed (deny) until it can.
//
// Rules grant one permission (read or backup) on groups matching a
// pattern: "*" (every group) or TYPE/ID where either part may be a
// path.Match glob ("vm/*", "*/web?", "host/web1"). Backup does not imply
// read: a backup-only token cannot download what it uploaded.
//
// # TLS
//
// LoadOrCreateCert makes the certificate on first use; later calls load
// the same one, so the fingerprint clients pinned stays valid. ClientConfig
// trusts no CA: it accepts the server exactly when the SHA-256 of the leaf
// certificate's DER equals the pinned fingerprint. Both sides require TLS
// 1.3. Client certificates are not used; tokens authenticate clients.
//
// # What it must not do
//
// It never logs, returns or wraps a secret or its hash: errors name the
// token (when the secret was well-formed) but never echo the secret. It
// never panics on input: the token file decoder bounds the file size and
// every count before it allocates and is fuzzed, as is ParseRule. It does
// not open the store or know the wire protocol.
package auth

import "errors"

// Sentinel errors; callers branch on them with errors.Is.
var (
	// ErrDenied reports a secret that is malformed, unknown, wrong or
	// revoked. Its text never contains the secret.
	ErrDenied = errors.New("auth: access denied")
	// ErrUnknown reports a token name that does not exist (Revoke).
	ErrUnknown = errors.New("auth: no such token")
	// ErrExist reports a token name that is already taken (Create).
	ErrExist = errors.New("auth: token already exists")
	// ErrFormat reports a token file, rule or fingerprint that does not
	// parse.
	ErrFormat = errors.New("auth: bad format")
	// ErrFingerprint reports a server certificate whose SHA-256 does not
	// match the pinned fingerprint.
	ErrFingerprint = errors.New("auth: certificate fingerprint mismatch")
)
