package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Secret layout: secretPrefix + name + "." + secretChars of base64url.
const (
	secretPrefix = "bfs1."
	secretBytes  = 32
)

var secretChars = base64.RawURLEncoding.EncodedLen(secretBytes) // 43

// Token is a token as List shows it: never its secret or hash.
type Token struct {
	Name    string
	Rules   []Rule
	Created time.Time
}

// Tokens is the token file DIR/.auth/tokens.json. It is safe for
// concurrent use, and several Tokens (in one process or many) may share a
// directory.
type Tokens struct {
	authPath string
	path     string
	now      func() time.Time

	mu     sync.Mutex
	loaded bool
	key    fileKey            // identity of the file byName was read from
	byName map[string]*record // the cached file
	err    error              // why the last load failed (fail closed)
}

// fileKey identifies one version of the token file. Writers replace the
// file by rename, so a new version has a new inode; size and the
// nanosecond times guard against an inode number being reused.
type fileKey struct {
	exists       bool
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

func keyOf(fi fs.FileInfo) fileKey {
	k := fileKey{exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.dev, k.ino = uint64(st.Dev), st.Ino
		k.ctime = st.Ctim.Nano()
	}
	return k
}

// OpenTokens opens the token file of the datastore in dir, creating
// DIR/.auth (0700) if missing. A missing token file means no tokens. A
// token file that does not decode is an error wrapping ErrFormat.
func OpenTokens(dir string) (*Tokens, error) {
	ap, err := authDir(dir)
	if err != nil {
		return nil, err
	}
	t := &Tokens{authPath: ap, path: filepath.Join(ap, tokensName), now: time.Now}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.refreshLocked(); err != nil {
		return nil, err
	}
	return t, nil
}

// load reads the token file as it is now. A missing file is empty.
func (t *Tokens) load() (map[string]*record, fileKey, error) {
	f, err := os.Open(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*record{}, fileKey{}, nil
	}
	if err != nil {
		return nil, fileKey{}, fmt.Errorf("auth: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileKey{}, fmt.Errorf("auth: %w", err)
	}
	b, err := readBounded(f, fi.Size(), maxTokenFileSize)
	if err != nil {
		return nil, fileKey{}, err
	}
	recs, err := decodeTokens(b)
	if err != nil {
		return nil, fileKey{}, fmt.Errorf("%s: %w", t.path, err)
	}
	m := make(map[string]*record, len(recs))
	for _, r := range recs {
		m[r.Name] = r
	}
	return m, keyOf(fi), nil
}

// refreshLocked re-reads the token file if it changed since the last
// read (one stat when it did not). t.mu must be held.
func (t *Tokens) refreshLocked() error {
	var k fileKey
	fi, err := os.Stat(t.path)
	switch {
	case err == nil:
		k = keyOf(fi)
	case !errors.Is(err, fs.ErrNotExist):
		t.loaded, t.err = false, fmt.Errorf("auth: %w", err)
		return t.err
	}
	if t.loaded && k == t.key {
		return nil
	}
	m, k, err := t.load()
	if err != nil {
		t.loaded, t.byName, t.err = false, nil, err
		return err
	}
	t.loaded, t.key, t.byName, t.err = true, k, m, nil
	return nil
}

// Create adds a token named name (a group-id-like string) with rules and
// returns its secret, "bfs1.NAME.<43 base64url chars>". The secret is shown
// this once: only its SHA-256 is stored. A taken name is an error wrapping
// ErrExist; invalid names or rules wrap ErrFormat.
func (t *Tokens) Create(name string, rules []Rule) (secret string, err error) {
	if err := validName(name); err != nil {
		return "", fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if err := validRules(rules); err != nil {
		return "", err
	}
	var raw [secretBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("auth: create token %q: %w", name, err)
	}
	secret = secretPrefix + name + "." + base64.RawURLEncoding.EncodeToString(raw[:])
	rec := newRecord(name, rules, t.now().UTC().Truncate(time.Second), sha256.Sum256([]byte(secret)))
	err = t.update(func(m map[string]*record) error {
		if m[name] != nil {
			return fmt.Errorf("%w: %q", ErrExist, name)
		}
		m[name] = rec
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("auth: create token: %w", err)
	}
	return secret, nil
}

// validRules checks rules given to Create: 1 to maxRules, each one that
// ParseRule would return for its String.
func validRules(rules []Rule) error {
	if len(rules) == 0 || len(rules) > maxRules {
		return fmt.Errorf("%w: %d rules, want 1 to %d", ErrFormat, len(rules), maxRules)
	}
	for _, r := range rules {
		back, err := ParseRule(r.String())
		if err != nil {
			return err
		}
		if back != r {
			return fmt.Errorf("%w: rule %q does not read back", ErrFormat, r.String())
		}
	}
	return nil
}

// Revoke removes the token named name. An unknown name is an error
// wrapping ErrUnknown. Connections already authenticated keep their Grant;
// Valid reports the revoke.
func (t *Tokens) Revoke(name string) error {
	err := t.update(func(m map[string]*record) error {
		if m[name] == nil {
			return fmt.Errorf("%w: %s", ErrUnknown, clip(name))
		}
		delete(m, name)
		return nil
	})
	if err != nil {
		return fmt.Errorf("auth: revoke token: %w", err)
	}
	return nil
}

// update changes the token file under the writers' lock: it re-reads the
// file, applies change and replaces the file atomically.
func (t *Tokens) update(change func(map[string]*record) error) error {
	unlock, err := lockAuth(t.authPath)
	if err != nil {
		return err
	}
	defer unlock()
	m, _, err := t.load()
	if err != nil {
		return err
	}
	if err := change(m); err != nil {
		return err
	}
	recs := make([]*record, 0, len(m))
	for _, r := range m {
		recs = append(recs, r)
	}
	b, err := encodeTokens(recs)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(t.path, b); err != nil {
		return err
	}
	t.mu.Lock()
	t.loaded = false // the next reader re-reads the file just written
	t.mu.Unlock()
	return nil
}

// List returns every token, sorted by name, without secrets or hashes.
func (t *Tokens) List() ([]Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.refreshLocked(); err != nil {
		return nil, err
	}
	out := make([]Token, 0, len(t.byName))
	for _, r := range t.byName {
		out = append(out, Token{Name: r.Name, Rules: append([]Rule(nil), r.rules...), Created: r.Created})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Authenticate checks a secret against the token file as it is now (it
// re-reads the file if another process changed it) and returns what the
// token grants. A malformed, unknown, wrong or revoked secret is an error
// wrapping ErrDenied; so is a token file that cannot be read (the error
// then also wraps the cause). The error never contains the secret.
func (t *Tokens) Authenticate(secret string) (*Grant, error) {
	name, ok := secretName(secret)
	if !ok {
		return nil, fmt.Errorf("%w: malformed token secret (want bfs1.NAME.SECRET)", ErrDenied)
	}
	sum := sha256.Sum256([]byte(secret))
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.refreshLocked(); err != nil {
		return nil, fmt.Errorf("%w: token file: %w", ErrDenied, err)
	}
	rec := t.byName[name]
	var want [32]byte // compared against when the name is unknown, to keep timing alike
	if rec != nil {
		want = rec.hash
	}
	if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || rec == nil {
		return nil, fmt.Errorf("%w: token %q is unknown, revoked or its secret is wrong", ErrDenied, name)
	}
	return &Grant{Name: rec.Name, Rules: append([]Rule(nil), rec.rules...)}, nil
}

// secretName returns the name in a well-formed secret.
func secretName(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 || len(rest)-i-1 != secretChars {
		return "", false
	}
	name, enc := rest[:i], rest[i+1:]
	if validName(name) != nil {
		return "", false
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(enc); err != nil {
		return "", false
	}
	return name, true
}

// Valid reports whether the token named name exists now (re-reading the
// token file if it changed). A server calls it to re-check a long-lived
// connection's Grant after revokes. It is false if the file cannot be read.
func (t *Tokens) Valid(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refreshLocked() == nil && t.byName[name] != nil
}
