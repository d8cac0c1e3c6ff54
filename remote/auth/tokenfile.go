package auth

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/backupfs/backupfs/catalog"
)

// The token file, DIR/.auth/tokens.json:
//
//	{
//	  "version": 1,
//	  "tokens": [
//	    {"name": "alice", "rules": ["read:vm/*"], "created": "2026-11-21T10:00:00Z",
//	     "sha256": "<64 hex digits: SHA-256 of the whole secret string>"}
//	  ]
//	}
//
// Tokens are kept sorted by name; names are unique. Unknown fields are
// refused (a newer format gets a new version number).
const (
	tokenFileVersion = 1
	maxTokenFileSize = 4 << 20 // checked before the file is read
	maxTokens        = 10000
	maxRules         = 64 // per token
)

// record is one token as stored.
type record struct {
	Name    string    `json:"name"`
	Rules   []string  `json:"rules"`
	Created time.Time `json:"created"`
	SHA256  string    `json:"sha256"`

	rules []Rule   // parsed Rules
	hash  [32]byte // decoded SHA256
}

type tokenFile struct {
	Version int       `json:"version"`
	Tokens  []*record `json:"tokens"`
}

// decodeTokens parses a token file. It never panics; every error wraps
// ErrFormat.
func decodeTokens(b []byte) ([]*record, error) {
	if len(b) > maxTokenFileSize {
		return nil, fmt.Errorf("%w: token file: %d bytes, at most %d", ErrFormat, len(b), maxTokenFileSize)
	}
	var f tokenFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: token file: %s", ErrFormat, clipErr(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: token file: data after the object", ErrFormat)
	}
	if f.Version != tokenFileVersion {
		return nil, fmt.Errorf("%w: token file: version %d, this build reads %d", ErrFormat, f.Version, tokenFileVersion)
	}
	if len(f.Tokens) > maxTokens {
		return nil, fmt.Errorf("%w: token file: %d tokens, at most %d", ErrFormat, len(f.Tokens), maxTokens)
	}
	seen := make(map[string]bool, len(f.Tokens))
	for i, r := range f.Tokens {
		if r == nil {
			return nil, fmt.Errorf("%w: token file: token %d is null", ErrFormat, i)
		}
		if err := r.parse(); err != nil {
			return nil, fmt.Errorf("%w: token file: token %d: %v", ErrFormat, i, err)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("%w: token file: token %q appears twice", ErrFormat, r.Name)
		}
		seen[r.Name] = true
	}
	return f.Tokens, nil
}

// parse validates a decoded record and fills its parsed fields.
func (r *record) parse() error {
	if err := validName(r.Name); err != nil {
		return err
	}
	if len(r.Rules) == 0 || len(r.Rules) > maxRules {
		return fmt.Errorf("token %q: %d rules, want 1 to %d", r.Name, len(r.Rules), maxRules)
	}
	r.rules = make([]Rule, len(r.Rules))
	for i, s := range r.Rules {
		rule, err := ParseRule(s)
		if err != nil {
			return fmt.Errorf("token %q: %v", r.Name, err)
		}
		r.rules[i] = rule
	}
	if len(r.SHA256) != 2*len(r.hash) {
		return fmt.Errorf("token %q: sha256 must be %d hex digits", r.Name, 2*len(r.hash))
	}
	if _, err := hex.Decode(r.hash[:], []byte(r.SHA256)); err != nil {
		return fmt.Errorf("token %q: sha256: %v", r.Name, err)
	}
	return nil
}

// encodeTokens writes a token file, tokens sorted by name.
func encodeTokens(recs []*record) ([]byte, error) {
	sorted := append([]*record(nil), recs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	if sorted == nil {
		sorted = []*record{}
	}
	b, err := json.MarshalIndent(tokenFile{Version: tokenFileVersion, Tokens: sorted}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("auth: encode token file: %w", err)
	}
	return append(b, '\n'), nil
}

// newRecord makes a record for a new token.
func newRecord(name string, rules []Rule, created time.Time, hash [32]byte) *record {
	r := &record{Name: name, Created: created, SHA256: hex.EncodeToString(hash[:]), hash: hash}
	r.rules = append([]Rule(nil), rules...)
	for _, rule := range rules {
		r.Rules = append(r.Rules, rule.String())
	}
	return r
}

// validName checks a token name: the shape of a group id.
func validName(name string) error {
	if err := catalog.ValidID(name); err != nil {
		return fmt.Errorf("token name %s: want [A-Za-z0-9_][A-Za-z0-9._-]*, at most %d bytes", clip(name), catalog.MaxIDLen)
	}
	return nil
}

// clipErr cuts a decoder's message (which may quote a field name of any
// length) to a few hundred bytes.
func clipErr(err error) string {
	m := err.Error()
	if len(m) > 4*clipLen {
		m = m[:4*clipLen] + "..."
	}
	return m
}
