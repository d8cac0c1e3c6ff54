package auth

import (
	"errors"
	"path"
	"strings"
	"testing"
)

// The seed corpora live in testdata/fuzz/FuzzXxx/ (written by
// TestGenerateFuzzSeeds with -gen-seeds); the go tool adds them itself.

func FuzzDecodeTokens(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := decodeTokens(b)
		if err != nil {
			if recs != nil || !errors.Is(err, ErrFormat) || len(err.Error()) > 2048 {
				t.Fatalf("decodeTokens = %v, %v", recs, err)
			}
			return
		}
		enc, err := encodeTokens(recs)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeTokens(enc)
		if err != nil {
			t.Fatalf("re-decoding an encoded file: %v\n%s", err, enc)
		}
		if len(back) != len(recs) {
			t.Fatalf("%d tokens read back as %d", len(recs), len(back))
		}
		byName := make(map[string]*record)
		for _, r := range back {
			byName[r.Name] = r
		}
		for _, r := range recs {
			sameRecord(t, r, byName[r.Name])
		}
	})
}

func sameRecord(t *testing.T, a, b *record) {
	t.Helper()
	if b == nil || a.hash != b.hash || !a.Created.Equal(b.Created) || len(a.rules) != len(b.rules) {
		t.Fatalf("record %+v read back as %+v", a, b)
	}
	for i := range a.rules {
		if a.rules[i] != b.rules[i] {
			t.Fatalf("rule %v read back as %v", a.rules[i], b.rules[i])
		}
	}
}

var fuzzGroups = []string{"vm/100", "ct/1", "host/web1", "host/a.b-c_d", "vm/..", "/vm/1", "vm/1/2", ""}

func FuzzParseRule(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			if r != (Rule{}) || !errors.Is(err, ErrFormat) || len(err.Error()) > 1024 {
				t.Fatalf("ParseRule = %v, %v", r, err)
			}
			return
		}
		if r.String() != s {
			t.Fatalf("ParseRule(%q).String() = %q", s, r.String())
		}
		if len(r.Pattern) > MaxPatternLen || strings.ContainsAny(r.Pattern, "\\ :\x00") {
			t.Fatalf("ParseRule(%q) accepted pattern %q", s, r.Pattern)
		}
		g := &Grant{Rules: []Rule{r}}
		other := PermRead
		if r.Perm == PermRead {
			other = PermBackup
		}
		for _, grp := range fuzzGroups {
			ok := g.Allows(r.Perm, grp)
			if g.Allows(other, grp) {
				t.Fatalf("rule %v allows %s on %q", r, other, grp)
			}
			m, _ := path.Match(r.Pattern, grp)
			canonical := grp != "vm/.." && grp != "/vm/1" && grp != "vm/1/2" && grp != ""
			if ok != (canonical && (m || r.Pattern == "*")) {
				t.Fatalf("rule %v: Allows(%q) = %v, path.Match = %v", r, grp, ok, m)
			}
		}
	})
}

func FuzzParseFingerprint(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := ParseFingerprint(s)
		if err != nil {
			if !errors.Is(err, ErrFormat) || len(err.Error()) > 512 {
				t.Fatalf("ParseFingerprint error %v", err)
			}
			return
		}
		h := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
		h = strings.TrimPrefix(h, "sha256")
		back, err := ParseFingerprint(h)
		if err != nil || back != fp {
			t.Fatalf("ParseFingerprint(%q) = %x; its plain form %q gives %x, %v", s, fp, h, back, err)
		}
	})
}

// FuzzSecret checks the secret parser Authenticate runs on untrusted input.
func FuzzSecret(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		name, ok := secretName(s)
		if !ok {
			return
		}
		if validName(name) != nil || !strings.HasPrefix(s, secretPrefix+name+".") ||
			len(s) != len(secretPrefix)+len(name)+1+secretChars {
			t.Fatalf("secretName(%q) = %q", s, name)
		}
	})
}
