package fuzzseed

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, v := range []string{"", "a\x00b\xff\n\"", "read:vm/*"} {
		for _, typ := range []string{"[]byte", "string"} {
			got, err := Decode(typ, Encode(typ, v))
			if err != nil || got != v {
				t.Errorf("%s %q: got %q, %v", typ, v, got, err)
			}
		}
	}
	for _, bad := range []string{"", "go test fuzz v1\nstring(\"x\")\n", "go test fuzz v1\n[]byte(x)\n"} {
		if _, err := Decode("[]byte", []byte(bad)); err == nil {
			t.Errorf("Decode(%q) succeeded", bad)
		}
	}
}

// Check passes on what Write wrote, and fails on a stale, a missing and
// an extra seed.
func TestCheck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "FuzzX")
	files := map[string]string{"a": "one", "b": "two"}
	if err := Write(dir, "string", files); err != nil {
		t.Fatal(err)
	}
	if failed(func(t testing.TB) { Check(t, dir, "string", files) }) {
		t.Fatal("Check failed on what Write wrote")
	}
	for name, change := range map[string]func() map[string]string{
		"stale":   func() map[string]string { return map[string]string{"a": "one", "b": "TWO"} },
		"missing": func() map[string]string { return map[string]string{"a": "one", "b": "two", "c": "three"} },
		"extra":   func() map[string]string { return map[string]string{"a": "one"} },
	} {
		if !failed(func(t testing.TB) { Check(t, dir, "string", change()) }) {
			t.Errorf("Check passed with a %s seed", name)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "seed-a"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !failed(func(t testing.TB) { Check(t, dir, "string", files) }) {
		t.Error("Check passed with a file that does not decode")
	}
}

// failed runs f against a recorder and reports whether it failed.
func failed(f func(t testing.TB)) bool {
	r := &recorder{}
	f(r)
	return r.failed
}

type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
