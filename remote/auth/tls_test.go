package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseFingerprint(t *testing.T) {
	const hexFP = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	var want [32]byte
	for i := range want {
		want[i] = []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}[i%8]
	}
	colons := func(s string) string {
		var parts []string
		for i := 0; i < len(s); i += 2 {
			parts = append(parts, s[i:i+2])
		}
		return strings.Join(parts, ":")
	}
	tests := []struct {
		in string
		ok bool
	}{
		{hexFP, true},
		{strings.ToUpper(hexFP), true},
		{colons(hexFP), true},
		{colons(strings.ToUpper(hexFP)), true},
		{"sha256:" + hexFP, true},
		{"SHA256:" + colons(hexFP), true},
		{"  " + hexFP + "\n", true},
		{"", false},
		{hexFP[:62], false},
		{hexFP + "00", false},
		{"sha1:" + hexFP, false},
		{"sha256:sha256:" + hexFP, false},
		{strings.Replace(hexFP, "0", "g", 1), false},
		{colons(hexFP)[:94] + "-", false},
		{strings.Replace(colons(hexFP), ":", "-", 1), false},
		{hexFP[:32] + ":" + hexFP[32:], false},
		{strings.Repeat(":", 95), false},
		{colons(hexFP)[1:] + "0", false},
	}
	for _, tt := range tests {
		got, err := ParseFingerprint(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseFingerprint(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Errorf("ParseFingerprint(%q) error %v does not wrap ErrFormat", tt.in, err)
		}
		if err == nil && got != want {
			t.Errorf("ParseFingerprint(%q) = %x", tt.in, got)
		}
	}
}

func TestLoadOrCreateCert(t *testing.T) {
	dir := t.TempDir()
	c1, err := LoadOrCreateCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	fp := Fingerprint(c1)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(fp) {
		t.Fatalf("Fingerprint = %q", fp)
	}
	leaf, err := x509.ParseCertificate(c1.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != "backupfs" || !leaf.NotAfter.After(time.Now().Add(19*365*24*time.Hour)) {
		t.Errorf("certificate: CN %q, not after %v", leaf.Subject.CommonName, leaf.NotAfter)
	}
	if leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key algorithm %v", leaf.PublicKeyAlgorithm)
	}
	for _, name := range []string{"127.0.0.1", "::1", "localhost"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("SAN %s: %v", name, err)
		}
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("SAN hostname: %v", err)
		}
	}
	c2, err := LoadOrCreateCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(c2) != fp {
		t.Fatal("second LoadOrCreateCert made a new certificate")
	}
	if Fingerprint(tls.Certificate{}) != "" {
		t.Fatal("Fingerprint of no certificate")
	}
}

func TestCertRecovery(t *testing.T) {
	dir := t.TempDir()
	c1, err := LoadOrCreateCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	auth := filepath.Join(dir, ".auth")
	// An interrupted creation (key written, cert not): made anew.
	if err := os.Remove(filepath.Join(auth, "cert.pem")); err != nil {
		t.Fatal(err)
	}
	c2, err := LoadOrCreateCert(dir)
	if err != nil || Fingerprint(c2) == Fingerprint(c1) {
		t.Fatalf("after losing cert.pem: %v", err)
	}
	// A cert whose key is gone is not silently replaced.
	if err := os.Remove(filepath.Join(auth, "key.pem")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCert(dir); err == nil {
		t.Fatal("LoadOrCreateCert replaced a certificate whose key was missing")
	}
}

// handshake runs a real TLS server and client over 127.0.0.1 and returns
// the client's handshake error and what the client read.
func handshake(t *testing.T, server tls.Certificate, fingerprint string) (string, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(server))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, "hello")
	}()
	cfg, err := ClientConfig(fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("TLS version %x", v)
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

func TestTLSPinning(t *testing.T) {
	dir := t.TempDir()
	cert, err := LoadOrCreateCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadOrCreateCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fp := Fingerprint(cert)
	got, err := handshake(t, cert, "SHA256:"+strings.ToUpper(fp))
	if err != nil || got != "hello" {
		t.Fatalf("right fingerprint: %q, %v", got, err)
	}
	_, err = handshake(t, cert, Fingerprint(other))
	if !errors.Is(err, ErrFingerprint) {
		t.Fatalf("wrong fingerprint: %v, want ErrFingerprint", err)
	}
	want := "server certificate fingerprint " + fp + " does not match the expected " + Fingerprint(other)
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	var fe *FingerprintError
	if !errors.As(err, &fe) || fe.Got != fp {
		t.Fatalf("error %v is not a *FingerprintError with Got", err)
	}
	if _, err := ClientConfig("nope"); !errors.Is(err, ErrFormat) {
		t.Fatalf("ClientConfig(nope): %v", err)
	}
}

func TestTLSRefusesOldVersions(t *testing.T) {
	cert, err := LoadOrCreateCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, c := net.Pipe()
	defer c.Close()
	go func() {
		srv := tls.Server(s, ServerConfig(cert))
		_ = srv.Handshake()
		srv.Close()
	}()
	cli := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	if err := cli.Handshake(); err == nil {
		t.Fatal("a TLS 1.2 client was accepted")
	}
}
