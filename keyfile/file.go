package keyfile

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// MaxFileSize bounds what Open reads as a key file.
const MaxFileSize = 64 << 10

// Bounds on the KDF parameters a file may ask for.
const (
	maxMemoryKiB = 4 << 20 // 4 GiB
	maxTime      = 64
	maxThreads   = 64
	saltSize     = 16
	version      = 1
)

// Params are argon2id's cost parameters.
type Params struct {
	Time      uint32 `json:"time"`       // passes
	MemoryKiB uint32 `json:"memory_kib"` // memory
	Threads   uint8  `json:"threads"`    // lanes
}

func (p Params) check() error {
	if p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Threads > maxThreads ||
		p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB {
		return fmt.Errorf("%w: argon2id time %d, memory %d KiB, threads %d out of bounds", ErrFormat, p.Time, p.MemoryKiB, p.Threads)
	}
	return nil
}

// kdf is the file's KDF section.
type kdf struct {
	Name string `json:"name"`
	Params
	Salt []byte `json:"salt"`
}

// file is a key file; header is every field but Sealed, the AEAD's
// associated data.
type file struct {
	header
	Sealed []byte `json:"sealed"`
}

type header struct {
	Version     int    `json:"backupfs_key"`
	Fingerprint string `json:"fingerprint"`
	Created     string `json:"created"`
	KDF         kdf    `json:"kdf"`
	Nonce       []byte `json:"nonce"`
}

// Seal writes k into a new key file under pass with KDF parameters p.
func Seal(k *Key, pass []byte, p Params) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	f := file{header: header{Version: version, Fingerprint: k.Fingerprint(),
		Created: time.Now().UTC().Format(time.RFC3339),
		KDF:     kdf{Name: "argon2id", Params: p, Salt: make([]byte, saltSize)},
		Nonce:   make([]byte, chacha20poly1305.NonceSizeX)}}
	if _, err := rand.Read(f.KDF.Salt); err != nil {
		return nil, fmt.Errorf("keyfile: salt: %w", err)
	}
	if _, err := rand.Read(f.Nonce); err != nil {
		return nil, fmt.Errorf("keyfile: nonce: %w", err)
	}
	ad, err := json.Marshal(f.header)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	aead, err := chacha20poly1305.NewX(stretch(pass, f.KDF))
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	f.Sealed = aead.Seal(nil, f.Nonce, k.secret[:], ad)
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	return append(out, '\n'), nil
}

func stretch(pass []byte, k kdf) []byte {
	return argon2.IDKey(pass, k.Salt, k.Time, k.MemoryKiB, k.Threads, chacha20poly1305.KeySize)
}

// Fingerprint reads a key file's fingerprint without opening it.
func Fingerprint(b []byte) (string, error) {
	f, err := parse(b)
	if err != nil {
		return "", err
	}
	return f.Fingerprint, nil
}

// parse decodes and checks a key file's structure and bounds (no KDF run).
func parse(b []byte) (*file, error) {
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFormat, len(b), MaxFileSize)
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	switch {
	case f.Version != version:
		return nil, fmt.Errorf("%w: version %d (this backupfs reads %d)", ErrFormat, f.Version, version)
	case f.KDF.Name != "argon2id":
		return nil, fmt.Errorf("%w: kdf %q", ErrFormat, f.KDF.Name)
	case len(f.KDF.Salt) != saltSize, len(f.Nonce) != chacha20poly1305.NonceSizeX,
		len(f.Sealed) != SecretSize+chacha20poly1305.Overhead, len(f.Fingerprint) != 32:
		return nil, fmt.Errorf("%w: salt, nonce, sealed secret or fingerprint of the wrong size", ErrFormat)
	}
	if err := f.KDF.Params.check(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Open opens a key file with its passphrase.
func Open(b, pass []byte) (*Key, error) {
	f, err := parse(b)
	if err != nil {
		return nil, err
	}
	ad, err := json.Marshal(f.header)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	aead, err := chacha20poly1305.NewX(stretch(pass, f.KDF))
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	plain, err := aead.Open(nil, f.Nonce, f.Sealed, ad)
	if err != nil {
		return nil, ErrPassphrase
	}
	k := &Key{}
	copy(k.secret[:], plain)
	if k.Fingerprint() != f.Fingerprint {
		return nil, fmt.Errorf("%w: the secret does not match the fingerprint", ErrFormat)
	}
	return k, nil
}
