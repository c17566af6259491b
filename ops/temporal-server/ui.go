package main

import (
	"encoding/base64"
	"encoding/pem"
	"net"
	"strconv"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// newUIServer is the Temporal Web UI on loopback, as the dev server runs it. It reaches the frontend over TLS
// with the in-memory "temporal-web-ui" client certificate, which the claim mapper maps to full access, so
// operators see every run. The UI itself has no login: whoever reaches its port is an operator, so it listens
// on 127.0.0.1 only (reach it through an SSH tunnel, or the company's SSO proxy in production).
func newUIServer(f *flags, c *certs) *uiserver.Server {
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.dir.CA.Raw})
	return uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		Host:                loopback,
		Port:                f.uiPort,
		TemporalGRPCAddress: net.JoinHostPort(frontendDialHost(f.ip), strconv.Itoa(f.port)),
		EnableUI:            true,
		DefaultNamespace:    f.namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true}, // plain HTTP on loopback, as the dev server
		HideLogs:            true,
		TLS: uiconfig.TLS{
			CaData:                 b64(caPEM),
			CertData:               b64(c.ui.CertPEM),
			KeyData:                b64(c.ui.KeyPEM),
			EnableHostVerification: true,
		},
	}))
}

// frontendDialHost is the address our own clients (the UI, the readiness check) dial: loopback when the
// frontend listens on every interface.
func frontendDialHost(ip string) string {
	if addr := net.ParseIP(ip); addr != nil && addr.IsUnspecified() {
		if addr.To4() != nil {
			return loopback
		}
		return "::1"
	}
	return ip
}
