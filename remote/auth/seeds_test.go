package auth

import (
	"crypto/sha256"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupfs/backupfs/internal/fuzzseed"
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
			fuzzseed.Check(t, dir, typ, files)
			continue
		}
		if err := fuzzseed.Write(dir, typ, files); err != nil {
			t.Fatal(err)
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
