// Package s3test starts a real S3 server for tests: versitygw with its
// POSIX backend in a temporary directory, on 127.0.0.1 and a free port,
// with fresh credentials and one bucket, with --keep-alive as a deployment
// should run it (without it versitygw closes every connection after one
// answer: each request then costs both ends a new TCP connection). The binary is found in PATH or in
// $GOPATH/bin (`go install github.com/versity/versitygw/cmd/versitygw@v1.8.0`,
// as .ci/run does); a test that needs it FAILS when it is missing: a
// backend left untested must be visible. It lives in a non-test file so the
// store's and the integration tests share it.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Version is the versitygw release the tests and CI pin.
const Version = "v1.8.0"

// Server is one running versitygw.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	Root     string // the POSIX backend's directory: buckets are its subdirectories
	Access   string
	Secret   string
	Bucket   string // created empty at start
	bin      string
	addr     string
	cmd      *exec.Cmd
	t        testing.TB
}

// Binary returns the versitygw path, or an error saying how to install it.
func Binary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw not found in PATH or $GOPATH/bin: go install github.com/versity/versitygw/cmd/versitygw@%s", Version)
}

// Start starts a server with one empty bucket; it is killed at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Root: t.TempDir(), Access: "AK" + randHex(8), Secret: randHex(20),
		Bucket: "backupfs", bin: bin, t: t}
	s.addr = freeAddr(t)
	s.Endpoint = "http://" + s.addr
	s.start()
	t.Cleanup(s.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.Bucket}); err != nil {
		t.Fatalf("s3test: create bucket: %v", err)
	}
	return s
}

func (s *Server) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "--access", s.Access, "--secret", s.Secret, "--port", s.addr, "--keep-alive", "--quiet", "posix", s.Root)
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("s3test: start versitygw: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.Kill()
			s.t.Fatalf("s3test: versitygw did not listen on %s: %v", s.addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill stops the server (SIGKILL) and waits for it; idempotent.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Pause stops the server (SIGSTOP) without closing its socket: the
// kernel still accepts connections, nothing answers (a store that hangs).
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	if s.cmd == nil || s.cmd.Process == nil {
		s.t.Fatalf("s3test: %v: the server is not running", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("s3test: %v: %v", sig, err)
	}
}

// Restart starts the server again on the same address and directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Client returns an S3 client for the server (path-style, its credentials).
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.Access, s.Secret, "")})
}

// Env returns the AWS_* environment for a backupfs process using the server.
func (s *Server) Env() []string {
	return []string{"AWS_ENDPOINT_URL=" + s.Endpoint, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + s.Access, "AWS_SECRET_ACCESS_KEY=" + s.Secret}
}

// Path returns the backend file holding an object of the bucket.
func (s *Server) Path(key string) string {
	return filepath.Join(s.Root, s.Bucket, filepath.FromSlash(key))
}

// Age moves the modification time of every object of the bucket d into
// the past: versitygw's POSIX backend gives a file's mtime as the object's
// LastModified, so the objects look d older to anyone listing them.
func (s *Server) Age(d time.Duration) {
	s.t.Helper()
	err := filepath.WalkDir(filepath.Join(s.Root, s.Bucket), func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		old := fi.ModTime().Add(-d)
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		s.t.Fatalf("s3test: age: %v", err)
	}
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
