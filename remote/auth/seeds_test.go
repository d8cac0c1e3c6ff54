package auth

import (
	"crypto/sha256"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var genSeeds = flag.Bool("gen-seeds", false, "rewrite the fuzz seed corpora under testdata/fuzz")

// TestGenerateFuzzSeeds writes the seed corpora (go test fuzz v1 files):
//
//	go test ./remote/auth -run TestGenerateFuzzSeeds -gen-seeds
//
// Without the flag it checks that each corpus holds exactly these seeds,
// each file decoding (go test fuzz v1) to the value the code makes now.
func TestGenerateFuzzSeeds(t *testing.T) {
	seeds := map[string]map[string]string{
		"FuzzDecodeTokens":     tokenFileSeeds(t),
		"FuzzParseRule":        {"read-glob": "read:vm/*", "backup": "backup:host/a", "all": "read:*", "class": "read:ct/1[0-9][^5]", "bad": "write:vm/["},
		"FuzzParseFingerprint": {"plain": strings.Repeat("ab", 32), "colons": "SHA256:" + strings.Repeat("AB:", 31) + "AB", "short": "abc"},
		"FuzzSecret":           {"good": "bfs1.alice.laptop." + strings.Repeat("A", 42) + "_", "short": "bfs1.a.xyz"},
	}
	for target, files := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		typ := "string"
		if target == "FuzzDecodeTokens" {
			typ = "[]byte"
		}
		if !*genSeeds {
			checkSeeds(t, dir, typ, files)
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, v := range files {
			body := "go test fuzz v1\n" + typ + "(" + strconv.Quote(v) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// checkSeeds fails unless dir's seed-* files are exactly files, each
// decoding to the value files holds for it, of type typ.
func checkSeeds(t *testing.T, dir, typ string, files map[string]string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
	if len(m) != len(files) {
		t.Errorf("%s: %d seed files, the code makes %d; run with -gen-seeds", dir, len(m), len(files))
	}
	for name, want := range files {
		path := filepath.Join(dir, "seed-"+name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v; run with -gen-seeds", err)
			continue
		}
		body, ok := strings.CutPrefix(string(b), "go test fuzz v1\n"+typ+"(")
		body, ok2 := strings.CutSuffix(body, ")\n")
		got, err := strconv.Unquote(body)
		if !ok || !ok2 || err != nil {
			t.Errorf("%s: not a go test fuzz v1 %s file (%v)", path, typ, err)
		} else if got != want {
			t.Errorf("%s is stale: %q, the code makes %q; run with -gen-seeds", path, got, want)
		}
	}
}

// tokenFileSeeds returns token files: a real one (testdata/tokens.json),
// an empty one, and near misses of each check.
func tokenFileSeeds(t *testing.T) map[string]string {
	good, err := os.ReadFile(filepath.Join("testdata", "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encodeTokens([]*record{newRecord("a", mustRules(t, "read:*"), time.Unix(0, 0).UTC(), sha256.Sum256(nil))})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"good":      string(good),
		"encoded":   string(enc),
		"empty":     `{"version":1,"tokens":[]}`,
		"version":   `{"version":2,"tokens":[]}`,
		"unknown":   `{"version":1,"tokens":[],"x":1}`,
		"null":      `{"version":1,"tokens":[null]}`,
		"duplicate": strings.Replace(string(good), `"bob"`, `"alice"`, 1),
		"trailing":  `{"version":1,"tokens":[]}{}`,
	}
}
