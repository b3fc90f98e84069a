// Package tlstest makes certificate authorities and certificates for tests:
// ECDSA P-256 keys, written to a test's temporary directory and returned
// both as file paths and as PEM bytes.
//
// It is a helper for tests only; it fails the test it is given on any
// error.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// serial numbers every certificate this package makes, so that no two in
// one test binary share a serial or a file name.
var serial atomic.Int64

// CA is a certificate authority. A root CA is self-signed; one made by
// Intermediate is signed by its parent.
type CA struct {
	// Cert is the CA's certificate.
	Cert *x509.Certificate
	// Key is the CA's private key.
	Key *ecdsa.PrivateKey
	// PEM is Cert, PEM-encoded.
	PEM []byte
	// File is the path of a file holding PEM.
	File string

	// chain is PEM of the CAs between this one and the root, this one
	// first and the root excluded: what a leaf of this CA presents after
	// its own certificate.
	chain []byte
	dir   string
}

// Leaf is a certificate and its key, issued by a CA.
type Leaf struct {
	// Cert is the leaf certificate.
	Cert *x509.Certificate
	// Key is its private key.
	Key *ecdsa.PrivateKey
	// CertPEM is the PEM of the leaf certificate followed by those of the
	// intermediate CAs that issued it, if any (the root is not included).
	CertPEM []byte
	// KeyPEM is the private key, PEM-encoded (PKCS #8).
	KeyPEM []byte
	// CertFile and KeyFile are paths of files holding CertPEM and KeyPEM.
	CertFile, KeyFile string
	// TLS is the pair ready for a tls.Config.
	TLS tls.Certificate
}

// NewCA makes a self-signed root CA valid from an hour ago for a day.
func NewCA(t testing.TB) *CA {
	t.Helper()
	return newCA(t, nil)
}

// Intermediate makes a CA signed by ca, valid from an hour ago for a day.
// Leaves it issues carry it in their chain.
func (ca *CA) Intermediate(t testing.TB) *CA {
	t.Helper()
	return newCA(t, ca)
}

func newCA(t testing.TB, parent *CA) *CA {
	t.Helper()
	key := newKey(t)
	n := serial.Add(1)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(n),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("drover test CA %d", n)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	signer, signerKey, dir := tmpl, key, t.TempDir()
	if parent != nil {
		signer, signerKey, dir = parent.Cert, parent.Key, parent.dir
	}
	cert := create(t, tmpl, signer, &key.PublicKey, signerKey)
	ca := &CA{Cert: cert, Key: key, PEM: certPEM(cert), dir: dir}
	if parent != nil {
		ca.chain = append(append([]byte{}, ca.PEM...), parent.chain...)
	}
	ca.File = write(t, dir, fmt.Sprintf("ca-%d.pem", n), ca.PEM)
	return ca
}

// Issue makes a leaf certificate signed by ca for the given DNS names and
// the IP address 127.0.0.1, valid from an hour ago for a day, for both
// server and client authentication. Its common name is the first DNS name.
func (ca *CA) Issue(t testing.TB, dnsNames ...string) *Leaf {
	t.Helper()
	return ca.issue(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), dnsNames)
}

// IssueExpired is Issue for a certificate that expired a minute ago.
func (ca *CA) IssueExpired(t testing.TB, dnsNames ...string) *Leaf {
	t.Helper()
	return ca.issue(t, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Minute), dnsNames)
}

func (ca *CA) issue(t testing.TB, notBefore, notAfter time.Time, dnsNames []string) *Leaf {
	t.Helper()
	key := newKey(t)
	n := serial.Add(1)
	cn := "drover test leaf"
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(n),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     dnsNames,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	cert := create(t, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("tlstest: marshal key: %v", err)
	}
	l := &Leaf{
		Cert:    cert,
		Key:     key,
		CertPEM: append(certPEM(cert), ca.chain...),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
	}
	l.CertFile = write(t, ca.dir, fmt.Sprintf("leaf-%d.pem", n), l.CertPEM)
	l.KeyFile = write(t, ca.dir, fmt.Sprintf("leaf-%d-key.pem", n), l.KeyPEM)
	l.TLS, err = tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		t.Fatalf("tlstest: key pair: %v", err)
	}
	return l
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlstest: generate key: %v", err)
	}
	return key
}

func create(t testing.TB, tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatalf("tlstest: create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlstest: parse certificate: %v", err)
	}
	return cert
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func write(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("tlstest: %v", err)
	}
	return path
}
