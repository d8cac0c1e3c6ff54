package keyfile

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// Sentinel errors callers branch on.
var (
	// ErrPassphrase: the passphrase does not open the file (or the file
	// was altered: the two cannot be told apart).
	ErrPassphrase = errors.New("keyfile: wrong passphrase or altered key file")
	// ErrFormat: not a key file, or one with parameters out of bounds.
	ErrFormat = errors.New("keyfile: not a valid key file")
	// ErrPaperKey: a paper key that does not check.
	ErrPaperKey = errors.New("keyfile: paper key does not check (a letter is mistyped or missing)")
)

// SecretSize is the size of the master secret.
const SecretSize = 32

// Key is an opened key: the master secret.
type Key struct {
	secret [SecretSize]byte
}

// New makes a key with a fresh random secret.
func New() (*Key, error) {
	k := &Key{}
	if _, err := rand.Read(k.secret[:]); err != nil {
		return nil, fmt.Errorf("keyfile: random secret: %w", err)
	}
	return k, nil
}

// Derive returns n bytes derived from the secret for one purpose, named
// by label (HKDF-SHA256, the label as info). Different labels give
// independent keys.
func (k *Key) Derive(label string, n int) []byte {
	b, err := hkdf.Key(sha256.New, k.secret[:], nil, "backupfs "+label, n)
	if err != nil { // only for n beyond 255*32 bytes: a programming error
		panic(fmt.Sprintf("keyfile: derive %d bytes: %v", n, err))
	}
	return b
}

// Fingerprint names the key: 32 hex digits derived from the secret.
func (k *Key) Fingerprint() string { return hex.EncodeToString(k.Derive("key fingerprint", 16)) }

// Equal reports whether two keys hold the same secret.
func (k *Key) Equal(o *Key) bool { return k.secret == o.secret }
