package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDecodeTokensGolden(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := decodeTokens(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Name != "alice" || recs[1].Name != "bob" {
		t.Fatalf("decoded %+v", recs)
	}
	a := recs[0]
	if len(a.rules) != 2 || a.rules[0] != (Rule{PermRead, "vm/*"}) || a.rules[1] != (Rule{PermBackup, "host/alice"}) ||
		!a.Created.Equal(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)) || a.hash[0] != 0x2c {
		t.Fatalf("alice = %+v", a)
	}
	enc, err := encodeTokens(recs)
	if err != nil {
		t.Fatal(err)
	}
	if string(enc) != string(b) {
		t.Fatalf("re-encoding the golden file differs:\n%s", enc)
	}
}

func TestDecodeTokensErrors(t *testing.T) {
	const hash = `"sha256":"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"`
	tok := func(fields string) string { return `{"version":1,"tokens":[{` + fields + `}]}` }
	tests := map[string]string{
		"empty input":  ``,
		"not json":     `{`,
		"array":        `[]`,
		"no version":   `{"tokens":[]}`,
		"version 2":    `{"version":2,"tokens":[]}`,
		"unknown":      `{"version":1,"tokens":[],"admin":true}`,
		"trailing":     `{"version":1,"tokens":[]} {}`,
		"null token":   `{"version":1,"tokens":[null]}`,
		"bad name":     tok(`"name":"../x","rules":["read:*"],` + hash),
		"no rules":     tok(`"name":"a","rules":[],` + hash),
		"bad rule":     tok(`"name":"a","rules":["root:*"],` + hash),
		"short hash":   tok(`"name":"a","rules":["read:*"],"sha256":"2c26"`),
		"hex hash":     tok(`"name":"a","rules":["read:*"],"sha256":"` + strings.Repeat("zz", 32) + `"`),
		"bad time":     tok(`"name":"a","rules":["read:*"],"created":"yesterday",` + hash),
		"token field":  tok(`"name":"a","rules":["read:*"],"secret":"x",` + hash),
		"duplicate":    `{"version":1,"tokens":[{"name":"a","rules":["read:*"],` + hash + `},{"name":"a","rules":["read:*"],` + hash + `}]}`,
		"too big":      `{"version":1,"tokens":[]}` + strings.Repeat(" ", maxTokenFileSize),
		"too many":     `{"version":1,"tokens":[` + strings.Repeat(`{},`, maxTokens) + `{}]}`,
		"many rules":   tok(`"name":"a","rules":[` + strings.Repeat(`"read:*",`, maxRules) + `"read:*"],` + hash),
		"rules string": tok(`"name":"a","rules":"read:*",` + hash),
	}
	for name, in := range tests {
		recs, err := decodeTokens([]byte(in))
		if !errors.Is(err, ErrFormat) || recs != nil {
			t.Errorf("%s: decodeTokens = %v, %v; want ErrFormat", name, recs, err)
		}
	}
}
