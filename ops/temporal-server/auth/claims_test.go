package auth

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"bp-temporal/tlsgen"

	wf "go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/authorization"
	"google.golang.org/grpc/credentials"
)

// certAuthInfo is what the server builds for a caller whose client certificate TLS verified as leaf → root.
func certAuthInfo(t *testing.T, ca *tlsgen.CA, cn, header string) *authorization.AuthInfo {
	t.Helper()
	issued, err := ca.Issue(tlsgen.Leaf{CommonName: cn, Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(issued.TLS.Certificate[0])
	info := &credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf, ca.Cert}}}}
	return &authorization.AuthInfo{TLSSubject: &leaf.Subject, TLSConnection: info, AuthToken: header}
}

func TestUICertificateMapsToFullAccess(t *testing.T) {
	k := newTestKeys(t)
	processCA, _ := tlsgen.NewCA("process", time.Hour)
	otherCA, _ := tlsgen.NewCA("other", time.Hour)
	m := NewClaimMapper(k.verifier(), processCA.Cert)
	a := NewAuthorizer(nil, nil)
	list := target(wfAPI("ListWorkflowExecutions"), &wf.ListWorkflowExecutionsRequest{Namespace: ns})
	admin := target(wfAPI("UpdateNamespace"), nil)

	// The UI forwards the browser's Authorization header; its certificate still decides.
	for _, header := range []string{"", "Bearer junk"} {
		c, _ := m.GetClaims(certAuthInfo(t, processCA, UICommonName, header))
		if id := identityFromClaims(c); id == nil || id.Role != RoleUI {
			t.Fatalf("UI certificate (header %q) mapped to %+v", header, id)
		}
		if !allowed(t, a, c, list) || !allowed(t, a, c, admin) {
			t.Error("UI refused")
		}
	}

	for name, info := range map[string]*authorization.AuthInfo{
		"UI name from another CA":    certAuthInfo(t, otherCA, UICommonName, ""),
		"another name from our CA":   certAuthInfo(t, processCA, "someone", ""),
		"subject without TLS chains": {TLSSubject: &processCA.Cert.Subject},
	} {
		c, _ := m.GetClaims(info)
		if allowed(t, a, c, list) {
			t.Errorf("%s: allowed", name)
		}
	}

	// A site with some client certificate is still only a site.
	c, _ := m.GetClaims(certAuthInfo(t, otherCA, UICommonName, "Bearer "+k.token(t, siteClaims("site-a"))))
	if id := identityFromClaims(c); id == nil || id.Role != RoleSite {
		t.Errorf("site token with a foreign certificate mapped to %+v", id)
	}
}
