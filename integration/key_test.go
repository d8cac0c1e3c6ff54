package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// keyCmd runs backupfs key with a passphrase in the environment and
// optional standard input.
func keyCmd(t *testing.T, pass, stdin string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(Binary(t), append([]string{"key", "--kdf-time", "1", "--kdf-memory", "1MiB"}, args...)...)
	cmd.Env = append(os.Environ(), "BACKUPFS_PASSWORD="+pass)
	cmd.Stdin = strings.NewReader(stdin)
	return RunCmd(t, cmd)
}

var fingerprintRE = regexp.MustCompile(`^key ([0-9a-f]{32}) in `)

// TestKeyCommands: create, fingerprint, paperkey and recover, passwd, with
// the mistakes people make: a wrong passphrase, an existing file, a typo
// in the paper key.
func TestKeyCommands(t *testing.T) {
	dir := t.TempDir()
	kf := filepath.Join(dir, "key")
	r := keyCmd(t, "first pass", "", "create", kf)
	m := fingerprintRE.FindStringSubmatch(r.Stdout)
	if r.Code != 0 || m == nil {
		t.Fatalf("key create: exit %d, %q %q", r.Code, r.Stdout, r.Stderr)
	}
	fp := m[1]
	if st, err := os.Stat(kf); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", st, err)
	}
	if r := keyCmd(t, "x", "", "create", kf); r.Code != 1 || !strings.Contains(r.Stderr, "exists") {
		t.Fatalf("key create over an existing file: exit %d, %q", r.Code, r.Stderr)
	}
	if r := keyCmd(t, "", "", "fingerprint", kf); r.Code != 0 || strings.TrimSpace(r.Stdout) != fp {
		t.Fatalf("key fingerprint: exit %d, %q, want %s", r.Code, r.Stdout, fp)
	}
	if r := keyCmd(t, "wrong", "", "paperkey", kf); r.Code != 1 || !strings.Contains(r.Stderr, "wrong passphrase") {
		t.Fatalf("paperkey with a wrong passphrase: exit %d, %q", r.Code, r.Stderr)
	}
	r = keyCmd(t, "first pass", "", "paperkey", kf)
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "backupfs key "+fp+"\n") {
		t.Fatalf("paperkey: exit %d, %q %q", r.Code, r.Stdout, r.Stderr)
	}
	paper := strings.SplitN(r.Stdout, "\n", 2)[1]

	// The paper copy, typed back in lower case, makes the same key.
	again := filepath.Join(dir, "recovered")
	r = keyCmd(t, "other pass", strings.ToLower(paper), "recover", again)
	if m := fingerprintRE.FindStringSubmatch(r.Stdout); r.Code != 0 || m == nil || m[1] != fp {
		t.Fatalf("recover from the paper key: exit %d, %q %q; want key %s", r.Code, r.Stdout, r.Stderr, fp)
	}
	typo := []byte(paper)
	typo[3] ^= 1 // a letter changed
	if r := keyCmd(t, "p", string(typo), "recover", filepath.Join(dir, "bad")); r.Code != 1 || !strings.Contains(r.Stderr, "does not check") {
		t.Fatalf("recover from a mistyped paper key: exit %d, %q", r.Code, r.Stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad")); !os.IsNotExist(err) {
		t.Fatalf("a failed recover left a file: %v", err)
	}

	// passwd: the old passphrase stops working, the new one opens the same key.
	newPass := filepath.Join(dir, "newpass")
	if err := os.WriteFile(newPass, []byte("second pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := keyCmd(t, "first pass", "", "--new-password-file", newPass, "passwd", kf); r.Code != 0 {
		t.Fatalf("passwd: exit %d, %q", r.Code, r.Stderr)
	}
	if r := keyCmd(t, "first pass", "", "paperkey", kf); r.Code != 1 {
		t.Fatalf("the old passphrase still opens the key after passwd: %q", r.Stdout)
	}
	if r := keyCmd(t, "second pass", "", "paperkey", kf); r.Code != 0 || !strings.Contains(r.Stdout, fp) {
		t.Fatalf("the new passphrase: exit %d, %q %q", r.Code, r.Stdout, r.Stderr)
	}
	// Without a passphrase and without a terminal: a clear error.
	cmd := exec.Command(Binary(t), "key", "paperkey", kf)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal, even when the tests run in one
	if r := RunCmd(t, cmd); r.Code != 1 || !strings.Contains(r.Stderr, "no passphrase") {
		t.Fatalf("no passphrase anywhere: exit %d, %q", r.Code, r.Stderr)
	}
}
