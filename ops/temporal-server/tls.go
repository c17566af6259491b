package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"time"

	"bp-temporal/auth"
	"bp-temporal/tlsgen"

	"go.temporal.io/server/common/rpc/encryption"
)

// internodeName is the name internal connections check on each other's certificate; fixed, because the server
// dials its internal frontend through a resolver URL whose host is not an address.
const internodeName = "bp-temporal-internode"

// processCAValidity: the process CA and what it signs live only as long as this process; the bound just has
// to outlast any uptime.
const processCAValidity = 20 * 365 * 24 * time.Hour

// certs are all the certificates the process uses.
type certs struct {
	dir       *tlsgen.Dir    // from --tls-dir: the frontend's certificate, and ca.pem that clients trust
	processCA *tlsgen.CA     // made at start, in memory only: signs the two below
	internode *tlsgen.Issued // internal services to each other (both ends)
	ui        *tlsgen.Issued // the Web UI's client certificate to the frontend
}

func makeCerts(tlsDir string) (*certs, error) {
	dir, err := tlsgen.EnsureDir(tlsDir)
	if err != nil {
		return nil, err
	}
	ca, err := tlsgen.NewCA("bp-temporal process CA (in memory)", processCAValidity)
	if err != nil {
		return nil, err
	}
	internode, err := ca.Issue(tlsgen.Leaf{
		CommonName: internodeName,
		DNSNames:   []string{internodeName},
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1)},
		Usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		Validity:   processCAValidity,
	})
	if err != nil {
		return nil, err
	}
	ui, err := ca.Issue(tlsgen.Leaf{
		CommonName: auth.UICommonName,
		Usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		Validity:   processCAValidity,
	})
	if err != nil {
		return nil, err
	}
	return &certs{dir: dir, processCA: ca, internode: internode, ui: ui}, nil
}

// tlsProvider: the public frontend serves TLS only with the --tls-dir certificate and asks for (does not
// require) a client certificate, which it accepts only from the process CA: that is how the Web UI is known.
// SDK clients send none and are known by their token. Internal connections use mutual TLS under the process
// CA, so nothing outside this process can talk to the internal frontend, history or matching ports.
func (c *certs) tlsProvider() encryption.TLSConfigProvider {
	diskCA := x509.NewCertPool()
	diskCA.AddCert(c.dir.CA)
	processCA := c.processCA.Pool()
	return &encryption.FixedTLSConfigProvider{
		FrontendServerConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{c.dir.Server},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    processCA,
		},
		FrontendClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: diskCA},
		InternodeServerConfig: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{c.internode.TLS},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    processCA,
		},
		InternodeClientConfig: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{c.internode.TLS},
			RootCAs:      processCA,
			ServerName:   internodeName,
		},
	}
}
