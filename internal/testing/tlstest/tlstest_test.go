package tlstest_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/droverhq/drover/internal/testing/tlstest"
)

func verify(leaf *tlstest.Leaf, roots ...*tlstest.CA) error {
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r.Cert)
	}
	inter := x509.NewCertPool()
	chain, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		return err
	}
	for _, der := range chain.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		inter.AddCert(c)
	}
	_, err = leaf.Cert.Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: inter,
		DNSName:       leaf.Cert.DNSNames[0],
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	})
	return err
}

func TestIssue(t *testing.T) {
	ca := tlstest.NewCA(t)
	leaf := ca.Issue(t, "server.global.nomad", "client.global.nomad")
	if err := verify(leaf, ca); err != nil {
		t.Fatal(err)
	}
	if got := leaf.Cert.DNSNames; len(got) != 2 || got[0] != "server.global.nomad" || got[1] != "client.global.nomad" {
		t.Fatalf("DNS names %v", got)
	}
	if err := leaf.Cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if leaf.Cert.Subject.CommonName != "server.global.nomad" {
		t.Fatalf("common name %q", leaf.Cert.Subject.CommonName)
	}
	for path, want := range map[string][]byte{ca.File: ca.PEM, leaf.CertFile: leaf.CertPEM, leaf.KeyFile: leaf.KeyPEM} {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s does not hold its PEM", path)
		}
	}
	if _, err := tls.LoadX509KeyPair(leaf.CertFile, leaf.KeyFile); err != nil {
		t.Fatal(err)
	}

	other := tlstest.NewCA(t)
	if err := verify(other.Issue(t, "x"), ca); err == nil {
		t.Fatal("a leaf of another CA verified")
	}
}

func TestIntermediate(t *testing.T) {
	root := tlstest.NewCA(t)
	inter := root.Intermediate(t)
	leaf := inter.Issue(t, "client.global.nomad")
	if err := verify(leaf, root); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(leaf.CertPEM, []byte("BEGIN CERTIFICATE")); n != 2 {
		t.Fatalf("leaf PEM holds %d certificates, want the leaf and the intermediate", n)
	}
	if err := inter.Cert.CheckSignatureFrom(root.Cert); err != nil {
		t.Fatal(err)
	}
}

func TestIssueExpired(t *testing.T) {
	ca := tlstest.NewCA(t)
	leaf := ca.IssueExpired(t, "client.global.nomad")
	if !leaf.Cert.NotAfter.Before(time.Now()) {
		t.Fatalf("not expired: NotAfter %v", leaf.Cert.NotAfter)
	}
	var invalid x509.CertificateInvalidError
	if err := verify(leaf, ca); err == nil {
		t.Fatal("an expired leaf verified")
	} else if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Fatalf("error %v, want expired", err)
	}
	if ip := leaf.Cert.IPAddresses; len(ip) != 1 || !ip[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("IP addresses %v", ip)
	}
}
