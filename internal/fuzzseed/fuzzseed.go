// Package fuzzseed writes and checks the seed corpora of go test fuzz
// targets: files named seed-NAME under a target's testdata/fuzz directory,
// each holding one value in the "go test fuzz v1" format. The packages'
// seed tests use it to keep their corpora equal to what their code makes
// now. It owns no fuzz target and imports nothing of the project.
package fuzzseed

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// header starts every go test fuzz v1 file.
const header = "go test fuzz v1\n"

// Encode returns the file holding one value of Go type typ ("[]byte" or
// "string").
func Encode(typ, value string) []byte {
	return []byte(header + typ + "(" + strconv.Quote(value) + ")\n")
}

// Decode returns the value of a file holding one value of type typ.
func Decode(typ string, b []byte) (string, error) {
	body, ok := strings.CutPrefix(string(b), header+typ+"(")
	body, ok2 := strings.CutSuffix(body, ")\n")
	if !ok || !ok2 {
		return "", fmt.Errorf("fuzzseed: not a go test fuzz v1 %s file", typ)
	}
	v, err := strconv.Unquote(body)
	if err != nil {
		return "", fmt.Errorf("fuzzseed: %w", err)
	}
	return v, nil
}

// Write writes files (name -> value) as dir/seed-NAME, making dir.
func Write(dir, typ string, files map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), Encode(typ, v), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Check fails t unless dir's seed-* files are exactly files, each
// decoding to the value files holds for it. The messages say to
// regenerate with -gen-seeds.
func Check(t testing.TB, dir, typ string, files map[string]string) {
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
		got, err := Decode(typ, b)
		switch {
		case err != nil:
			t.Errorf("%s: %v", path, err)
		case got != want:
			t.Errorf("%s is stale: %d bytes, the code makes %d; run with -gen-seeds", path, len(got), len(want))
		}
	}
}
