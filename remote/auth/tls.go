package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CertValidity is how long a certificate made by LoadOrCreateCert is valid.
const CertValidity = 20 * 365 * 24 * time.Hour

// LoadOrCreateCert returns the server certificate in DIR/.auth/cert.pem and
// key.pem, making them on the first call: ECDSA P-256, self-signed, CN
// "backupfs", SANs 127.0.0.1, ::1, localhost and the hostname, valid for 20
// years from an hour ago (clock skew). Creation runs under the writers'
// lock, so two servers starting at once make one certificate.
//
// A key.pem without cert.pem is what a creation interrupted between its
// two renames leaves; no client can have pinned it, so both are made anew.
// A cert.pem without key.pem is an error: replacing it would break every
// client that pinned its fingerprint.
func LoadOrCreateCert(dir string) (tls.Certificate, error) {
	ap, err := authDir(dir)
	if err != nil {
		return tls.Certificate{}, err
	}
	certPath, keyPath := filepath.Join(ap, certName), filepath.Join(ap, keyName)
	if cert, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		return cert, nil
	}
	unlock, err := lockAuth(ap)
	if err != nil {
		return tls.Certificate{}, err
	}
	defer unlock()
	_, certErr := os.Stat(certPath)
	switch {
	case errors.Is(certErr, fs.ErrNotExist):
		if err := createCert(certPath, keyPath); err != nil {
			return tls.Certificate{}, err
		}
	case certErr != nil:
		return tls.Certificate{}, fmt.Errorf("auth: %w", certErr)
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("auth: load server certificate: %w", err)
	}
	return cert, nil
}

// createCert makes a new key and self-signed certificate and writes them,
// the key first: cert.pem existing means the pair is complete.
func createCert(certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("auth: generate key: %w", err)
	}
	der, err := selfSign(key, time.Now())
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("auth: encode key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeFileAtomic(keyPath, keyPEM); err != nil {
		return err
	}
	return writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// selfSign returns the DER of a certificate for key, signed by itself.
func selfSign(key *ecdsa.PrivateKey, now time.Time) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("auth: certificate serial: %w", err)
	}
	dns := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		dns = append(dns, h)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "backupfs"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CertValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("auth: create certificate: %w", err)
	}
	return der, nil
}

// Fingerprint returns the SHA-256 of cert's leaf (its first DER
// certificate) as 64 lower-case hex digits, or "" if cert has none.
func Fingerprint(cert tls.Certificate) string {
	if len(cert.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(cert.Certificate[0])
	return hex.EncodeToString(sum[:])
}

// ParseFingerprint parses a SHA-256 fingerprint: 64 hex digits in any
// case, either plain or as 32 pairs separated by ':' (as openssl prints
// them), optionally prefixed by "sha256:" (any case). Surrounding space is
// ignored. Errors wrap ErrFormat.
func ParseFingerprint(s string) ([32]byte, error) {
	var fp [32]byte
	h := strings.TrimSpace(s)
	if len(h) >= 7 && strings.EqualFold(h[:7], "sha256:") {
		h = h[7:]
	}
	if len(h) == 3*len(fp)-1 {
		var b strings.Builder
		for i := 0; i < len(h); i += 3 {
			if i+2 < len(h) && h[i+2] != ':' {
				return fp, fmt.Errorf("%w: fingerprint %s: separators must be ':' between byte pairs", ErrFormat, clip(s))
			}
			b.WriteString(h[i : i+2])
		}
		h = b.String()
	}
	if len(h) != 2*len(fp) {
		return fp, fmt.Errorf("%w: fingerprint %s: want 64 hex digits (SHA-256)", ErrFormat, clip(s))
	}
	if _, err := hex.Decode(fp[:], []byte(h)); err != nil {
		return fp, fmt.Errorf("%w: fingerprint %s: %v", ErrFormat, clip(s), err)
	}
	return fp, nil
}

// ServerConfig returns a TLS 1.3 server configuration presenting cert. It
// asks for no client certificate: tokens authenticate clients.
func ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
	}
}

// FingerprintError is the error a client's handshake fails with when the
// server's certificate is not the pinned one. It wraps ErrFingerprint.
type FingerprintError struct {
	Got, Want string // lower-case hex; Got is "" if the server sent no certificate
}

func (e *FingerprintError) Error() string {
	if e.Got == "" {
		return "server sent no certificate; expected fingerprint " + e.Want
	}
	return "server certificate fingerprint " + e.Got + " does not match the expected " + e.Want
}

// Unwrap returns ErrFingerprint.
func (e *FingerprintError) Unwrap() error { return ErrFingerprint }

// ClientConfig returns a TLS 1.3 client configuration that trusts no CA
// and no host name: it accepts the server exactly when the SHA-256 of its
// leaf certificate equals fingerprint (any form ParseFingerprint reads).
// A mismatch fails the handshake with a *FingerprintError.
func ClientConfig(fingerprint string) (*tls.Config, error) {
	want, err := ParseFingerprint(fingerprint)
	if err != nil {
		return nil, err
	}
	verify := func(cs tls.ConnectionState) error {
		e := &FingerprintError{Want: hex.EncodeToString(want[:])}
		if len(cs.PeerCertificates) == 0 {
			return e
		}
		got := sha256.Sum256(cs.PeerCertificates[0].Raw)
		if got != want {
			e.Got = hex.EncodeToString(got[:])
			return e
		}
		return nil
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The chain and host name checks are replaced by the pin, which
		// VerifyConnection checks on every handshake, resumed ones too.
		InsecureSkipVerify: true,
		VerifyConnection:   verify,
	}, nil
}
