package tlsgen

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestEnsureDirMakesCAAndServerCert(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	d, err := EnsureDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]os.FileMode{CAFile: 0o644, CAKeyFile: 0o600, ServerFile: 0o644, ServerKeyFile: 0o600}
	for name, want := range modes {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", name, st.Mode().Perm(), want)
		}
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", st.Mode().Perm())
	}
	if !d.CA.IsCA {
		t.Error("ca.pem is not a CA")
	}
	leaf, err := x509.ParseCertificate(d.Server.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("server key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	pool := x509.NewCertPool()
	pool.AddCert(d.CA)
	for _, name := range []string{"127.0.0.1", "localhost", "::1"} {
		opts := x509.VerifyOptions{Roots: pool, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := leaf.Verify(opts); err != nil {
			t.Errorf("server cert not valid for %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("server cert must not be usable as a client certificate")
	}
}

func TestEnsureDirReusesWhatIsThere(t *testing.T) {
	dir := t.TempDir()
	first, err := EnsureDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := EnsureDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !first.CA.Equal(second.CA) || !bytes.Equal(first.Server.Certificate[0], second.Server.Certificate[0]) {
		t.Error("a second start made new certificates; clients trusting ca.pem would break")
	}
}

func TestEnsureDirReplacesMissingOrExpiringServerCert(t *testing.T) {
	dir := t.TempDir()
	first, err := EnsureDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, ServerFile)); err != nil {
		t.Fatal(err)
	}
	second, err := EnsureDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !first.CA.Equal(second.CA) {
		t.Error("the CA changed when only the server certificate was missing")
	}
	if bytes.Equal(first.Server.Certificate[0], second.Server.Certificate[0]) {
		t.Error("server certificate not replaced")
	}

	// A server certificate a week from its end is replaced at start.
	caPEM, _ := os.ReadFile(filepath.Join(dir, CAFile))
	keyPEM, _ := os.ReadFile(filepath.Join(dir, CAKeyFile))
	ca, err := ParseCA(caPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	short, err := ca.Issue(Leaf{CommonName: "x", IPs: ServerNames.IPs, DNSNames: ServerNames.DNS,
		Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, Validity: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, ServerFile), short.CertPEM, 0o644)
	os.WriteFile(filepath.Join(dir, ServerKeyFile), short.KeyPEM, 0o600)
	third, err := EnsureDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(third.Server.Certificate[0])
	if time.Until(leaf.NotAfter) < 300*24*time.Hour {
		t.Errorf("expiring server certificate kept (ends %s)", leaf.NotAfter)
	}
}

func TestEnsureDirNewCAReplacesServerCert(t *testing.T) {
	dir := t.TempDir()
	first, err := EnsureDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, CAFile))
	second, err := EnsureDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.CA.Equal(second.CA) {
		t.Fatal("expected a new CA")
	}
	leaf, _ := x509.ParseCertificate(second.Server.Certificate[0])
	if err := leaf.CheckSignatureFrom(second.CA); err != nil {
		t.Errorf("server certificate not signed by the new CA: %v", err)
	}
}
