package auth

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkAuthenticate measures one authentication against a file of 100
// tokens that did not change: a stat, a hash and a map lookup.
func BenchmarkAuthenticate(b *testing.B) {
	tk := openTokens(b, b.TempDir())
	var secret string
	for i := range 100 {
		secret = create(b, tk, fmt.Sprintf("t%d", i), "read:vm/*")
	}
	b.SetBytes(int64(len(secret)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.Authenticate(secret); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReload measures re-reading a changed 100-token file.
func BenchmarkReload(b *testing.B) {
	tk := openTokens(b, b.TempDir())
	for i := range 100 {
		create(b, tk, fmt.Sprintf("t%d", i), "read:vm/*", "backup:host/x")
	}
	fi, err := os.Stat(filepath.Join(tk.authPath, tokensName))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	for b.Loop() {
		tk.mu.Lock()
		tk.loaded = false
		err := tk.refreshLocked()
		tk.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAllows(b *testing.B) {
	g := &Grant{Rules: mustRules(b, "backup:host/*", "read:ct/1[0-9]", "read:vm/*")}
	const group = "vm/100"
	b.SetBytes(int64(len(group)))
	b.ReportAllocs()
	for b.Loop() {
		if !g.Allows(PermRead, group) {
			b.Fatal("denied")
		}
	}
}

func BenchmarkCreate(b *testing.B) {
	tk := openTokens(b, b.TempDir())
	rules := mustRules(b, "read:*")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := tk.Create(fmt.Sprintf("t%d", i), rules); err != nil {
			b.Fatal(err)
		}
		i++
		if i == maxTokens {
			b.StopTimer()
			break
		}
	}
}
