package auth

import (
	"context"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Authorizer applies the platform and site rules to every frontend call.
type Authorizer struct {
	tokens *TaskTokens
	log    log.Logger
}

var _ authorization.Authorizer = (*Authorizer)(nil)

// NewAuthorizer checks site answers against tokens and logs each decision: refusals at info, the rest at debug
// (run with --auth-log-level debug to see every call a client makes).
func NewAuthorizer(tokens *TaskTokens, logger log.Logger) *Authorizer {
	if logger == nil {
		logger = log.NewNoopLogger()
	}
	return &Authorizer{tokens: tokens, log: logger}
}

// Authorize never returns an error: a refusal is a Deny with a reason, which the server turns into gRPC
// PermissionDenied ("Request unauthorized.") carrying the reason, so a misconfigured client learns why.
func (a *Authorizer) Authorize(_ context.Context, claims *authorization.Claims, t *authorization.CallTarget) (authorization.Result, error) {
	allow, reason, who := a.decide(claims, t)
	tags := []tag.Tag{
		tag.NewStringTag("api", t.APIName), tag.NewStringTag("namespace", t.Namespace),
		tag.NewStringTag("role", who.Role.String()), tag.NewStringTag("sub", who.Subject),
		tag.NewStringTag("tq", who.TaskQueue),
	}
	if allow {
		a.log.Debug("bp-auth allowed", tags...)
		return authorization.Result{Decision: authorization.DecisionAllow}, nil
	}
	a.log.Info("bp-auth denied", append(tags, tag.NewStringTag("reason", reason))...)
	return authorization.Result{Decision: authorization.DecisionDeny, Reason: reason}, nil
}

// decide returns the decision, its reason when refused, and who asked (for the log).
func (a *Authorizer) decide(claims *authorization.Claims, t *authorization.CallTarget) (bool, string, Identity) {
	// The gRPC health check says only "serving" or not; probes and load balancers call it without credentials.
	if t.APIName == healthpb.Health_Check_FullMethodName {
		return true, "", Identity{}
	}
	if claims == nil {
		// No token and no client certificate. GetSystemInfo is refused too: every client we run sends its
		// token on that first call, and nobody else needs to learn the server's version.
		return false, "no credentials: send authorization: Bearer <jwt>", Identity{}
	}
	id := identityFromClaims(claims)
	if id == nil {
		// Claims we did not make come only from the internal frontend (loopback, mutual TLS with the in-memory
		// process CA), whose no-op claim mapper gives the server's own system worker admin rights.
		if claims.System&authorization.RoleAdmin != 0 {
			return true, "", Identity{Subject: "temporal-system"}
		}
		return false, "unknown claims", Identity{}
	}
	if id.Err != nil {
		return false, "invalid credentials: " + id.Err.Error(), *id
	}
	switch id.Role {
	case RoleUI:
		return true, "", *id
	case RolePlatform:
		ok, why := decidePlatform(id, t)
		return ok, why, *id
	case RoleSite:
		ok, why := decideSite(id, t, a.tokens)
		return ok, why, *id
	}
	return false, "no role", *id
}
