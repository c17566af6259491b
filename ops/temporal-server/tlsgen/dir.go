package tlsgen

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names inside --tls-dir. Clients need only ca.pem.
const (
	CAFile        = "ca.pem"
	CAKeyFile     = "ca-key.pem"
	ServerFile    = "server.pem"
	ServerKeyFile = "server-key.pem"
)

const (
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 365 * 24 * time.Hour
	// A server certificate closer than this to its end is replaced at start-up (when ca-key.pem is there),
	// so a server restarted now and then never serves an expired one.
	renewBefore = 30 * 24 * time.Hour
)

// ServerNames are the names the generated server certificate is valid for: the frontend listens on loopback
// in development. A deployment reachable by another name brings its own server.pem/server-key.pem.
var ServerNames = struct {
	DNS []string
	IPs []net.IP
}{[]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}

// Dir is what --tls-dir provides to the frontend.
type Dir struct {
	CA     *x509.Certificate // ca.pem: what clients trust
	Server tls.Certificate   // the frontend's certificate and key
}

// EnsureDir loads the CA and server certificate from dir, making whatever is missing: a new CA when ca.pem is
// absent, and a server certificate when server.pem is absent, not signed by ca.pem, or about to expire.
// Keys are written with mode 0600 and the directory with 0700.
func EnsureDir(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := func(name string) string { return filepath.Join(dir, name) }

	var ca *CA // set only when we hold the CA key
	caPEM, err := os.ReadFile(path(CAFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if ca, err = NewCA("bp-temporal CA", caValidity); err != nil {
			return nil, err
		}
		keyPEM, err := ca.KeyPEM()
		if err != nil {
			return nil, err
		}
		// Key first: a crash between the two writes leaves no ca.pem, so the next start makes a new pair.
		if err := writeAtomic(path(CAKeyFile), keyPEM, 0o600); err != nil {
			return nil, err
		}
		caPEM = ca.CertPEM()
		if err := writeAtomic(path(CAFile), caPEM, 0o644); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	caCert, err := parseCert(caPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path(CAFile), err)
	}

	server, reason := loadServer(path(ServerFile), path(ServerKeyFile), caCert)
	if reason == "" {
		return &Dir{CA: caCert, Server: server}, nil
	}
	if ca == nil {
		keyPEM, err := os.ReadFile(path(CAKeyFile))
		if err != nil {
			return nil, fmt.Errorf("server certificate %s (%s) and cannot make a new one: %w", path(ServerFile), reason, err)
		}
		if ca, err = ParseCA(caPEM, keyPEM); err != nil {
			return nil, fmt.Errorf("%s: %w", path(CAKeyFile), err)
		}
	}
	issued, err := ca.Issue(Leaf{
		CommonName: "bp-temporal frontend",
		DNSNames:   ServerNames.DNS,
		IPs:        ServerNames.IPs,
		Usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		Validity:   serverValidity,
	})
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(path(ServerKeyFile), issued.KeyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeAtomic(path(ServerFile), issued.CertPEM, 0o644); err != nil {
		return nil, err
	}
	return &Dir{CA: caCert, Server: issued.TLS}, nil
}

// loadServer returns the server certificate, or why a new one is needed.
func loadServer(certFile, keyFile string, ca *x509.Certificate) (tls.Certificate, string) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return pair, "missing"
	} else if err != nil {
		return pair, err.Error()
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return pair, err.Error()
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	opts := x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if _, err := leaf.Verify(opts); err != nil {
		return pair, "not valid under ca.pem: " + err.Error()
	}
	if time.Until(leaf.NotAfter) < renewBefore {
		return pair, "expires " + leaf.NotAfter.Format(time.RFC3339)
	}
	return pair, ""
}

// writeAtomic writes through a temporary file and a rename, so a reader never sees half a key or certificate.
func writeAtomic(name string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
