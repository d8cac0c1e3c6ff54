package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRule(t *testing.T) {
	tests := []struct {
		in   string
		want Rule
		ok   bool
	}{
		{"read:vm/*", Rule{PermRead, "vm/*"}, true},
		{"backup:host/a", Rule{PermBackup, "host/a"}, true},
		{"read:*", Rule{PermRead, "*"}, true},
		{"read:*/*", Rule{PermRead, "*/*"}, true},
		{"read:*/web?", Rule{PermRead, "*/web?"}, true},
		{"read:ct/1[0-9][^5]", Rule{PermRead, "ct/1[0-9][^5]"}, true},
		{"backup:host/web1.example-com_2", Rule{PermBackup, "host/web1.example-com_2"}, true},
		{"read:v?/100", Rule{PermRead, "v?/100"}, true},
		{"sync:vm/*", Rule{PermSync, "vm/*"}, true},
		{"", Rule{}, false},
		{"read", Rule{}, false},
		{"read:", Rule{}, false},
		{"write:vm/1", Rule{}, false},
		{"Read:vm/1", Rule{}, false},
		{" read:vm/1", Rule{}, false},
		{"read:vm", Rule{}, false},
		{"read:vm/", Rule{}, false},
		{"read:/100", Rule{}, false},
		{"read:/vm/100", Rule{}, false},
		{"read:vm/1/2", Rule{}, false},
		{"read:disk/1", Rule{}, false},     // unknown type
		{"read:vm/.hidden", Rule{}, false}, // id may not start with '.'
		{"read:vm/..", Rule{}, false},
		{"read:vm/a b", Rule{}, false},
		{"read:vm/[", Rule{}, false}, // bad glob
		{"read:vm/\\*", Rule{}, false},
		{"read:vm/a:b", Rule{}, false},
		{"read:**", Rule{}, false},
		{"read:vm/" + strings.Repeat("a", MaxPatternLen), Rule{}, false},
	}
	for _, tt := range tests {
		got, err := ParseRule(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseRule(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Errorf("ParseRule(%q) error %v does not wrap ErrFormat", tt.in, err)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("ParseRule(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("ParseRule(%q).String() = %q", tt.in, got.String())
		}
	}
}

func mustRules(t testing.TB, ss ...string) []Rule {
	t.Helper()
	var out []Rule
	for _, s := range ss {
		r, err := ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestAllows(t *testing.T) {
	tests := []struct {
		rules []string
		perm  Perm
		group string
		want  bool
	}{
		{[]string{"read:*"}, PermRead, "vm/100", true},
		{[]string{"read:*"}, PermRead, "host/web1", true},
		{[]string{"read:*"}, PermBackup, "vm/100", false}, // read does not imply backup
		{[]string{"backup:*"}, PermRead, "vm/100", false}, // backup does not imply read
		{[]string{"backup:*"}, PermBackup, "ct/7", true},
		{[]string{"read:vm/*"}, PermRead, "vm/100", true},
		{[]string{"read:vm/*"}, PermRead, "ct/100", false},
		{[]string{"read:vm/*"}, PermRead, "vm/100/x", false},
		{[]string{"read:*/*"}, PermRead, "ct/1", true},
		{[]string{"read:host/web1"}, PermRead, "host/web1", true},
		{[]string{"read:host/web1"}, PermRead, "host/web10", false},
		{[]string{"read:host/web?"}, PermRead, "host/web2", true},
		{[]string{"read:ct/1[0-4]"}, PermRead, "ct/13", true},
		{[]string{"read:ct/1[0-4]"}, PermRead, "ct/15", false},
		{[]string{"backup:host/a", "read:host/*"}, PermRead, "host/a", true},
		{[]string{"backup:host/a", "read:host/b"}, PermRead, "host/a", false},
		{[]string{"backup:host/a", "read:host/b"}, PermBackup, "host/a", true},
		// sync is read for the groups it names, and nothing else.
		{[]string{"sync:vm/*"}, PermRead, "vm/1", true},
		{[]string{"sync:vm/*"}, PermRead, "ct/1", false},
		{[]string{"sync:vm/*"}, PermBackup, "vm/1", false},
		{[]string{"read:*"}, PermSync, "vm/1", false}, // read is not asked as sync
		// Only canonical group names are ever allowed.
		{[]string{"read:*"}, PermRead, "/vm/100", false},
		{[]string{"read:*"}, PermRead, "vm/..", false},
		{[]string{"read:vm/*"}, PermRead, "vm/.x", false},
		{[]string{"read:*"}, PermRead, "vm", false},
		{[]string{"read:*"}, PermRead, "", false},
		{[]string{"read:*"}, PermRead, "disk/1", false},
		{nil, PermRead, "vm/1", false},
		{[]string{"read:*"}, Perm("admin"), "vm/1", false},
	}
	for _, tt := range tests {
		g := &Grant{Name: "t", Rules: mustRules(t, tt.rules...)}
		if got := g.Allows(tt.perm, tt.group); got != tt.want {
			t.Errorf("%v Allows(%s, %q) = %v, want %v", tt.rules, tt.perm, tt.group, got, tt.want)
		}
	}
	var nilGrant *Grant
	if nilGrant.Allows(PermRead, "vm/1") {
		t.Error("nil Grant allows")
	}
}
