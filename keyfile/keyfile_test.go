package keyfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// cheap are parameters fast enough for tests.
var cheap = Params{Time: 1, MemoryKiB: 64, Threads: 1}

func mustKey(t testing.TB) *Key {
	t.Helper()
	k, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := mustKey(t)
	b, err := Seal(k, []byte("correct horse"), cheap)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(b, []byte("correct horse"))
	if err != nil || !got.Equal(k) {
		t.Fatalf("Open = %v, %v; want the sealed key", got, err)
	}
	if _, err := Open(b, []byte("correct horse ")); !errors.Is(err, ErrPassphrase) {
		t.Fatalf("Open with a wrong passphrase: %v, want ErrPassphrase", err)
	}
	fp, err := Fingerprint(b)
	if err != nil || fp != k.Fingerprint() || len(fp) != 32 {
		t.Fatalf("Fingerprint(file) = %q, %v; want %q", fp, err, k.Fingerprint())
	}
	if k.Fingerprint() == mustKey(t).Fingerprint() {
		t.Fatal("two random keys share a fingerprint")
	}
	if bytes.Contains(b, k.secret[:]) {
		t.Fatal("the file holds the secret in the clear")
	}
}

// TestAlteredFile: any change to a field the secret is bound to makes the
// file fail to open; nothing yields a different key.
func TestAlteredFile(t *testing.T) {
	k := mustKey(t)
	b, err := Seal(k, []byte("pw"), cheap)
	if err != nil {
		t.Fatal(err)
	}
	other := mustKey(t).Fingerprint()
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
		want error
	}{
		{"time", func(m map[string]any) { m["kdf"].(map[string]any)["time"] = 2.0 }, ErrPassphrase},
		{"created", func(m map[string]any) { m["created"] = "2020-01-01T00:00:00Z" }, ErrPassphrase},
		{"fingerprint", func(m map[string]any) { m["fingerprint"] = other }, ErrPassphrase},
		{"memory out of bounds", func(m map[string]any) { m["kdf"].(map[string]any)["memory_kib"] = float64(1 << 30) }, ErrFormat},
		{"zero passes", func(m map[string]any) { m["kdf"].(map[string]any)["time"] = 0.0 }, ErrFormat},
		{"scrypt", func(m map[string]any) { m["kdf"].(map[string]any)["name"] = "scrypt" }, ErrFormat},
		{"version", func(m map[string]any) { m["backupfs_key"] = 2.0 }, ErrFormat},
		{"unknown field", func(m map[string]any) { m["extra"] = 1.0 }, ErrFormat},
		{"short sealed", func(m map[string]any) { m["sealed"] = "AAAA" }, ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			tc.edit(m)
			edited, _ := json.Marshal(m)
			start := time.Now()
			if _, err := Open(edited, []byte("pw")); !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
			if d := time.Since(start); tc.want == ErrFormat && d > 5*time.Second {
				t.Fatalf("refusing a bad file took %v: the KDF ran", d)
			}
		})
	}
	for _, junk := range [][]byte{nil, []byte("{"), []byte("null"), bytes.Repeat([]byte(" "), MaxFileSize+1)} {
		if _, err := Open(junk, []byte("pw")); !errors.Is(err, ErrFormat) {
			t.Errorf("Open(%.20q) = %v, want ErrFormat", junk, err)
		}
	}
}

func TestPaperKey(t *testing.T) {
	k := mustKey(t)
	p := k.PaperKey()
	if lines := strings.Count(p, "\n"); lines != 3 {
		t.Errorf("paper key has %d lines:\n%s", lines, p)
	}
	for _, typed := range []string{p, strings.ToLower(p), strings.ReplaceAll(p, " ", "-"), strings.ReplaceAll(p, "\n", " ")} {
		got, err := ParsePaperKey(typed)
		if err != nil || !got.Equal(k) {
			t.Fatalf("ParsePaperKey(%q) = %v, %v", typed, got, err)
		}
	}
	// Every single-letter typo is caught, never another key.
	letters := []byte(strings.ReplaceAll(strings.ReplaceAll(p, " ", ""), "\n", ""))
	for i := range letters {
		typo := bytes.Clone(letters)
		if typo[i] == 'A' {
			typo[i] = 'B'
		} else {
			typo[i] = 'A'
		}
		if _, err := ParsePaperKey(string(typo)); !errors.Is(err, ErrPaperKey) {
			t.Fatalf("typo at letter %d: %v, want ErrPaperKey", i, err)
		}
	}
	if _, err := ParsePaperKey(string(letters[:len(letters)-1])); !errors.Is(err, ErrPaperKey) {
		t.Fatalf("a missing letter: %v", err)
	}
	// A typo in the last letter's two unused bits (its neighbour in the
	// alphabet, when they share the other three) decodes to the same
	// bytes: it must be refused too, whatever the key (before, the loop
	// above failed for one key in eight).
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	last := strings.IndexByte(alphabet, letters[len(letters)-1])
	typo := bytes.Clone(letters)
	typo[len(typo)-1] = alphabet[last^1]
	if _, err := ParsePaperKey(string(typo)); !errors.Is(err, ErrPaperKey) {
		t.Fatalf("a typo in the last letter's unused bits (%c for %c): %v, want ErrPaperKey", typo[len(typo)-1], letters[len(letters)-1], err)
	}
}

func TestDeriveLabels(t *testing.T) {
	k := mustKey(t)
	a, b := k.Derive("chunk id", 32), k.Derive("chunk seal", 32)
	if bytes.Equal(a, b) || !bytes.Equal(a, k.Derive("chunk id", 32)) {
		t.Fatal("Derive: labels must give distinct, repeatable keys")
	}
}

func TestCalibrate(t *testing.T) {
	p := Calibrate(50 * time.Millisecond)
	if err := p.check(); err != nil || p.MemoryKiB != DefaultMemoryKiB {
		t.Fatalf("Calibrate = %+v, %v", p, err)
	}
}

func FuzzOpen(f *testing.F) {
	k, _ := New()
	b, _ := Seal(k, []byte("pw"), cheap)
	f.Add(b, []byte("pw"))
	f.Add([]byte(`{"backupfs_key":1}`), []byte(""))
	f.Fuzz(func(t *testing.T, b, pass []byte) {
		fl, err := parse(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("parse error %v does not wrap ErrFormat", err)
			}
			return
		}
		if fl.KDF.MemoryKiB > 1024 || fl.KDF.Time > 2 { // the KDF's cost is bounded, not small
			return
		}
		if _, err := Open(b, pass); err != nil && !errors.Is(err, ErrPassphrase) && !errors.Is(err, ErrFormat) {
			t.Fatalf("Open error %v is neither ErrPassphrase nor ErrFormat", err)
		}
	})
}

func FuzzParsePaperKey(f *testing.F) {
	k, _ := New()
	f.Add(k.PaperKey())
	f.Add("aaaa")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePaperKey(s)
		if err != nil {
			if !errors.Is(err, ErrPaperKey) {
				t.Fatalf("error %v does not wrap ErrPaperKey", err)
			}
			return
		}
		if again, err := ParsePaperKey(k.PaperKey()); err != nil || !again.Equal(k) {
			t.Fatalf("a parsed key does not survive its own paper key: %v", err)
		}
	})
}
