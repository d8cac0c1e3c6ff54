package auth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTokens(t testing.TB, dir string) *Tokens {
	t.Helper()
	tk, err := OpenTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func create(t testing.TB, tk *Tokens, name string, rules ...string) string {
	t.Helper()
	s, err := tk.Create(name, mustRules(t, rules...))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var secretRE = regexp.MustCompile(`^bfs1\.([A-Za-z0-9_][A-Za-z0-9._-]*)\.[A-Za-z0-9_-]{43}$`)

func TestTokenLifecycle(t *testing.T) {
	dir := t.TempDir()
	tk := openTokens(t, dir)
	before := time.Now().Add(-time.Second)
	secret := create(t, tk, "alice.laptop", "read:vm/*", "backup:host/alice")
	if m := secretRE.FindStringSubmatch(secret); m == nil || m[1] != "alice.laptop" {
		t.Fatalf("secret %q has the wrong shape", secret)
	}
	g, err := tk.Authenticate(secret)
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "alice.laptop" || !g.Allows(PermRead, "vm/1") || !g.Allows(PermBackup, "host/alice") ||
		g.Allows(PermRead, "host/alice") {
		t.Fatalf("grant %+v", g)
	}
	list, err := tk.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "alice.laptop" || len(list[0].Rules) != 2 ||
		list[0].Created.Before(before) || list[0].Created.After(time.Now()) {
		t.Fatalf("List = %+v", list)
	}
	if s := fmt.Sprintf("%+v", list); strings.Contains(s, secret[len(secret)-43:]) {
		t.Fatalf("List shows the secret: %s", s)
	}
	file, _ := os.ReadFile(filepath.Join(dir, ".auth", "tokens.json"))
	if strings.Contains(string(file), secret[len(secret)-43:]) {
		t.Fatal("token file holds the secret in clear")
	}
	if !tk.Valid("alice.laptop") || tk.Valid("bob") {
		t.Fatal("Valid wrong before revoke")
	}
	if err := tk.Revoke("alice.laptop"); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Authenticate(secret); !errors.Is(err, ErrDenied) {
		t.Fatalf("after revoke: %v, want ErrDenied", err)
	}
	if tk.Valid("alice.laptop") {
		t.Fatal("Valid after revoke")
	}
	if !g.Allows(PermRead, "vm/1") {
		t.Fatal("a Grant handed out before the revoke changed")
	}
	if err := tk.Revoke("alice.laptop"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("second revoke: %v, want ErrUnknown", err)
	}
}

func TestCreateErrors(t *testing.T) {
	tk := openTokens(t, t.TempDir())
	create(t, tk, "a", "read:*")
	tests := []struct {
		name  string
		rules []Rule
		want  error
	}{
		{"a", mustRules(t, "read:*"), ErrExist},
		{"", mustRules(t, "read:*"), ErrFormat},
		{".a", mustRules(t, "read:*"), ErrFormat},
		{"a/b", mustRules(t, "read:*"), ErrFormat},
		{"b", nil, ErrFormat},
		{"b", []Rule{{Perm: "write", Pattern: "*"}}, ErrFormat},
		{"b", []Rule{{Perm: PermRead, Pattern: "vm"}}, ErrFormat},
		{"b", []Rule{{Perm: PermRead, Pattern: "*:x"}}, ErrFormat},
		{"b", make([]Rule, maxRules+1), ErrFormat},
	}
	for _, tt := range tests {
		if _, err := tk.Create(tt.name, tt.rules); !errors.Is(err, tt.want) {
			t.Errorf("Create(%q, %v) = %v, want %v", tt.name, tt.rules, err, tt.want)
		}
	}
	if list, _ := tk.List(); len(list) != 1 {
		t.Fatalf("failed creates left tokens: %+v", list)
	}
}

func TestAuthenticateDenied(t *testing.T) {
	tk := openTokens(t, t.TempDir())
	good := create(t, tk, "alice", "read:*")
	create(t, tk, "bob", "read:*")
	body := good[len("bfs1.alice."):]
	flip := []byte(good)
	flip[len(flip)-1] ^= 1 // still base64url, wrong value
	tests := []string{
		"",
		"bfs1.",
		"alice",
		body,
		"bfs2.alice." + body,
		"bfs1.alice." + body[:42],
		"bfs1.alice." + body + "A",
		"bfs1.bob." + body, // right secret, wrong name
		"bfs1.carol." + body,
		"bfs1..alice." + body,
		"bfs1.alice." + body[:42] + "=",
		"bfs1.alice." + body[:42] + "+",
		string(flip),
		" " + good,
		good + "\n",
		"bfs1." + strings.Repeat("a", 200) + "." + body,
	}
	for _, s := range tests {
		g, err := tk.Authenticate(s)
		if !errors.Is(err, ErrDenied) || g != nil {
			t.Errorf("Authenticate(%q) = %v, %v; want ErrDenied", s, g, err)
			continue
		}
		if len(s) > 20 && strings.Contains(err.Error(), s[len(s)-20:]) {
			t.Errorf("error %q echoes the secret", err)
		}
	}
	if _, err := tk.Authenticate(good); err != nil {
		t.Fatal(err)
	}
}

func TestSecondInstanceSeesChanges(t *testing.T) {
	dir := t.TempDir()
	a, b := openTokens(t, dir), openTokens(t, dir)
	if _, err := b.Authenticate("bfs1.x." + strings.Repeat("A", 43)); !errors.Is(err, ErrDenied) {
		t.Fatal(err) // b has loaded the (missing) file before a writes it
	}
	s1 := create(t, a, "one", "read:*")
	if _, err := b.Authenticate(s1); err != nil {
		t.Fatalf("b does not see a's new token: %v", err)
	}
	// Several changes in a row, faster than the clock's granularity.
	s2 := create(t, a, "two", "read:*")
	if err := a.Revoke("one"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(s1); !errors.Is(err, ErrDenied) {
		t.Fatalf("b still accepts a revoked token: %v", err)
	}
	if b.Valid("one") || !b.Valid("two") {
		t.Fatal("b.Valid is stale")
	}
	if _, err := b.Authenticate(s2); err != nil {
		t.Fatal(err)
	}
	if err := b.Revoke("two"); err != nil {
		t.Fatal(err)
	}
	if a.Valid("two") {
		t.Fatal("a does not see b's revoke")
	}
}

func TestConcurrentCreates(t *testing.T) {
	dir := t.TempDir()
	insts := []*Tokens{openTokens(t, dir), openTokens(t, dir)}
	const perInst = 25
	secrets := make([][]string, len(insts))
	rules := mustRules(t, "read:*")
	var wg sync.WaitGroup
	for i, tk := range insts {
		secrets[i] = make([]string, perInst)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perInst {
				s, err := tk.Create(fmt.Sprintf("i%d-t%d", i, j), rules)
				if err != nil {
					t.Error(err)
					return
				}
				secrets[i][j] = s
				if _, err := tk.Authenticate(s); err != nil { // readers during writes
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	fresh := openTokens(t, dir)
	list, err := fresh.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(insts)*perInst {
		t.Fatalf("%d tokens after %d creates", len(list), len(insts)*perInst)
	}
	for _, ss := range secrets {
		for _, s := range ss {
			if _, err := fresh.Authenticate(s); err != nil {
				t.Error(err)
			}
		}
	}
}

func TestFileModes(t *testing.T) {
	dir := t.TempDir()
	tk := openTokens(t, dir)
	create(t, tk, "a", "read:*")
	if _, err := LoadOrCreateCert(dir); err != nil {
		t.Fatal(err)
	}
	check := func(name string, want os.FileMode) {
		fi, err := os.Stat(filepath.Join(dir, ".auth", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	check(".", 0o700)
	for _, f := range []string{"tokens.json", "tokens.lock", "cert.pem", "key.pem"} {
		check(f, 0o600)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, ".auth"))
	if len(ents) != 4 {
		t.Errorf(".auth holds %d entries (temporary files left?)", len(ents))
	}
}

func TestLooseAuthDirRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".auth"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, ".auth"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenTokens(dir); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("OpenTokens on a 0755 .auth: %v", err)
	}
	if _, err := LoadOrCreateCert(dir); err == nil {
		t.Fatal("LoadOrCreateCert on a 0755 .auth succeeded")
	}
}

func TestCorruptFileFailsClosed(t *testing.T) {
	dir := t.TempDir()
	tk := openTokens(t, dir)
	s := create(t, tk, "a", "read:*")
	path := filepath.Join(dir, ".auth", "tokens.json")
	good, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := tk.Authenticate(s)
	if !errors.Is(err, ErrDenied) || !errors.Is(err, ErrFormat) {
		t.Fatalf("Authenticate with a corrupt file: %v", err)
	}
	if tk.Valid("a") {
		t.Fatal("Valid with a corrupt file")
	}
	if _, err := OpenTokens(dir); !errors.Is(err, ErrFormat) {
		t.Fatalf("OpenTokens with a corrupt file: %v", err)
	}
	if _, err := tk.Create("b", mustRules(t, "read:*")); !errors.Is(err, ErrFormat) {
		t.Fatalf("Create over a corrupt file: %v (it must not overwrite it)", err)
	}
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Authenticate(s); err != nil {
		t.Fatalf("after repair: %v", err)
	}
}
