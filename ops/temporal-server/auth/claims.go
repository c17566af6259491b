package auth

import (
	"context"
	"crypto/x509"
	"errors"

	"go.temporal.io/server/common/authorization"
)

// Role is what a caller is.
type Role int

const (
	RoleNone     Role = iota
	RolePlatform      // the API and the central worker: their own namespace, and the cluster reads they need
	RoleSite          // a site worker: polls and answers its own activity task queue, nothing else
	RoleUI            // the embedded Web UI: everything, so operators see every run
)

func (r Role) String() string {
	switch r {
	case RolePlatform:
		return "platform"
	case RoleSite:
		return "site"
	case RoleUI:
		return "ui"
	}
	return "none"
}

// UICommonName is the subject of the client certificate the embedded Web UI presents. It is honoured only on a
// certificate that chains to the process CA, whose key never leaves this process's memory.
const UICommonName = "temporal-web-ui"

// Identity is what the claim mapper makes of a caller's credentials; it rides in Claims.Extensions.
type Identity struct {
	Role      Role
	Subject   string
	Namespace string
	TaskQueue string
	// Err says why the credentials presented were refused (bad signature, expired, wrong aud, ...).
	// The mapper does not fail the call itself so the authorizer can log and refuse it with this reason.
	Err error
}

// ClaimMapper turns the "authorization: Bearer <jwt>" header, or the Web UI's client certificate, into claims.
type ClaimMapper struct {
	verifier  *Verifier
	processCA *x509.Certificate // signer of the Web UI's certificate
}

var _ authorization.ClaimMapper = (*ClaimMapper)(nil)

// NewClaimMapper makes a mapper that trusts tokens checked by v and the UI certificate signed by processCA.
func NewClaimMapper(v *Verifier, processCA *x509.Certificate) *ClaimMapper {
	return &ClaimMapper{verifier: v, processCA: processCA}
}

// GetClaims never returns an error: refused credentials become an Identity with Err set, which the authorizer
// denies with a reason (an error here would be logged at error level by the server for every bad token).
// The server calls it only when the caller sent an authorization header or a verified client certificate;
// a caller with neither reaches the authorizer with nil claims.
func (m *ClaimMapper) GetClaims(ai *authorization.AuthInfo) (*authorization.Claims, error) {
	id := m.identify(ai)
	return &authorization.Claims{Subject: id.Subject, Extensions: id}, nil
}

func (m *ClaimMapper) identify(ai *authorization.AuthInfo) *Identity {
	// The Web UI's certificate wins over any header: the UI forwards the browser's Authorization header
	// (an SSO proxy in front of it may set one), which must not lock operators out.
	if m.isUICert(ai) {
		return &Identity{Role: RoleUI, Subject: UICommonName}
	}
	if ai.AuthToken == "" {
		return &Identity{Err: errors.New("no token")}
	}
	tok, ok := bearerToken(ai.AuthToken)
	if !ok {
		return &Identity{Err: errors.New(`authorization header is not "Bearer <jwt>"`)}
	}
	c, err := m.verifier.Verify(tok)
	if err != nil {
		return &Identity{Err: err}
	}
	return &Identity{Role: c.Role, Subject: c.Subject, Namespace: c.Namespace, TaskQueue: c.TaskQueue}
}

// isUICert: TLS has already verified the chain against the process CA (the only client CA the frontend
// trusts); checking the root again here keeps that true even if the TLS settings change.
func (m *ClaimMapper) isUICert(ai *authorization.AuthInfo) bool {
	if m.processCA == nil || ai.TLSSubject == nil || ai.TLSConnection == nil {
		return false
	}
	chains := ai.TLSConnection.State.VerifiedChains
	if len(chains) == 0 || len(chains[0]) < 2 {
		return false
	}
	leaf, root := chains[0][0], chains[0][len(chains[0])-1]
	return root.Equal(m.processCA) && leaf.Subject.CommonName == UICommonName
}

// identityFromClaims returns our Identity, or nil for claims we did not make (the internal frontend's).
func identityFromClaims(c *authorization.Claims) *Identity {
	if c == nil {
		return nil
	}
	id, _ := c.Extensions.(*Identity)
	return id
}

// IdentityFromContext returns the caller's Identity once the server's authorization interceptor has run.
func IdentityFromContext(ctx context.Context) *Identity {
	c, _ := ctx.Value(authorization.MappedClaims).(*authorization.Claims)
	return identityFromClaims(c)
}
