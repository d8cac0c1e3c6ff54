package keyfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
)

const paperCheck = 4 // checksum bytes after the secret

var paperEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// PaperKey returns the secret as a person can write it down and type it
// back: base32 letters in groups of five, four groups to a line.
func (k *Key) PaperKey() string {
	sum := sha256.Sum256(k.secret[:])
	s := paperEncoding.EncodeToString(append(k.secret[:], sum[:paperCheck]...))
	var b strings.Builder
	for i := 0; i < len(s); i += 5 {
		switch {
		case i == 0:
		case i%20 == 0:
			b.WriteByte('\n')
		default:
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+5, len(s))])
	}
	b.WriteByte('\n')
	return b.String()
}

// ParsePaperKey reads a paper key back, ignoring case, spaces, dashes and
// line breaks.
func ParsePaperKey(s string) (*Key, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r', '-':
			return -1
		}
		return r
	}, strings.ToUpper(s))
	want := paperEncoding.EncodedLen(SecretSize + paperCheck)
	if len(clean) != want {
		return nil, fmt.Errorf("%w: %d letters, want %d", ErrPaperKey, len(clean), want)
	}
	b, err := paperEncoding.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPaperKey, err)
	}
	// The last letter holds 3 bits of the checksum and 2 unused ones,
	// which the decoder ignores: a typo there could read back as the
	// same key unnoticed. Only the letters PaperKey writes are accepted.
	if paperEncoding.EncodeToString(b) != clean {
		return nil, fmt.Errorf("%w: the last letter is not one a paper key ends with", ErrPaperKey)
	}
	sum := sha256.Sum256(b[:SecretSize])
	if !bytes.Equal(sum[:paperCheck], b[SecretSize:]) {
		return nil, ErrPaperKey
	}
	k := &Key{}
	copy(k.secret[:], b)
	return k, nil
}
