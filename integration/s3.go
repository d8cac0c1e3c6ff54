package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/backupfs/backupfs/internal/s3test"
)

// S3 is a datastore on a real object store: versitygw (internal/s3test)
// with a datastore made by `backupfs init` under URL.
type S3 struct {
	*s3test.Server
	URL    string // s3://BUCKET/PREFIX, for --datastore
	prefix string
}

// NewS3Datastore starts versitygw and inits a datastore on it.
func NewS3Datastore(t testing.TB) *S3 {
	t.Helper()
	s := &S3{Server: s3test.Start(t), prefix: "backups/ds"}
	s.URL = "s3://" + s.Bucket + "/" + s.prefix
	s.MustRun(t, "init", "--datastore", s.URL)
	return s
}

// Command is the backupfs binary with args and the store's AWS_* env.
func (s *S3) Command(t testing.TB, args ...string) *exec.Cmd {
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(os.Environ(), s.Env()...)
	return cmd
}

// Run runs backupfs with the store's environment.
func (s *S3) Run(t testing.TB, args ...string) Result {
	t.Helper()
	return RunCmd(t, s.Command(t, args...))
}

// MustRun is Run failing the test unless backupfs exits 0.
func (s *S3) MustRun(t testing.TB, args ...string) string {
	t.Helper()
	r := s.Run(t, args...)
	if r.Code != 0 {
		t.Fatalf("backupfs %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// ChunkFiles lists the backend files of the datastore's chunk objects,
// sorted.
func (s *S3) ChunkFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	root := s.Path(s.prefix + "/chunks")
	err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			out = append(out, p)
		}
		if os.IsNotExist(err) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// Setenv puts the store's AWS_* variables and a fresh BACKUPFS_STATE_DIR
// (the server's tokens and certificate) in the test's environment, so
// every backupfs process the test starts, through any helper (StartServer,
// Token, MustRun), reaches the store.
func (s *S3) Setenv(t *testing.T) {
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("BACKUPFS_STATE_DIR", t.TempDir())
}
