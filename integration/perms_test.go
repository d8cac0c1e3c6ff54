package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDatastorePermissions: after serve, token create, a local backup and
// a backup over the network (with umask 000, so nothing relies on the
// caller's umask), every file in the datastore is 0600 or stricter and
// every directory 0700, .auth and the TLS key included; tokens.json holds
// no secret (the printed secret is nowhere in the datastore).
func TestDatastorePermissions(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	ds := NewDatastore(t)
	src := filepath.Join(GoRoot(t), "src", "fmt")
	MustRun(t, "backup", "--datastore", ds, "/host/a", "fmt.tree:"+src)
	srv := StartServer(t, ds)
	tok := srv.Token("admin", "read:*", "backup:*", "admin:*")
	srv.MustClient(tok, "backup", srv.Repo("/host/b"), "sort.tree:"+filepath.Join(GoRoot(t), "src", "sort"))
	srv.Token("reader", "read:host/a")
	srv.MustClient(tok, "gc", "--grace", "0s", srv.Repo("/")) // the server holds its datastore: gc runs inside it

	key := filepath.Join(ds, ".auth", "key.pem")
	if _, err := os.Stat(key); err != nil {
		t.Fatalf("no TLS key at %s: %v", key, err)
	}
	secret := tok[strings.LastIndex(tok, ".")+1:]
	var files, dirs int
	err := filepath.Walk(ds, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		perm := fi.Mode().Perm()
		switch {
		case fi.IsDir():
			dirs++
			if perm != 0o700 {
				t.Errorf("directory %s has mode %o, want 700", p, perm)
			}
		case perm&^0o600 != 0:
			t.Errorf("file %s has mode %o, want 600 or stricter", p, perm)
		default:
			files++
			if b, err := os.ReadFile(p); err == nil && (strings.Contains(string(b), tok) || strings.Contains(string(b), secret)) {
				t.Errorf("%s contains the token secret", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 || dirs < 5 {
		t.Fatalf("walked %d files and %d dirs: the datastore is not what the test thinks", files, dirs)
	}
	if b, err := os.ReadFile(filepath.Join(ds, ".auth", "tokens.json")); err != nil || !strings.Contains(string(b), "admin") {
		t.Errorf("tokens.json (%v) does not list the token by name:\n%s", err, b)
	}
}
