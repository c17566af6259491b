// Package auth decides who may call what on the Temporal frontend: a claim mapper that turns a JWT (or the
// Web UI's client certificate) into an Identity, an authorizer with the platform and site rules, and the record
// of activity task tokens handed to each site so a site can answer only its own tasks.
package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

// Audience is the only "aud" accepted: a token minted for another service is useless here.
const Audience = "temporal"

// maxTokenLen bounds the work done on a header before its signature is checked.
const maxTokenLen = 8 << 10

// clockLeeway tolerates small clock differences between the API host and this one for "iat" and "nbf".
// "exp" has none: an expired token is refused.
const clockLeeway = 30 * time.Second

// TokenClaims are the claims of a verified token.
type TokenClaims struct {
	Subject   string
	Role      Role
	Namespace string
	TaskQueue string // sites only
	Expires   time.Time
}

// Verifier checks EdDSA (Ed25519) JWTs signed by the API.
type Verifier struct {
	keys []ed25519.PublicKey
	now  func() time.Time
}

// NewVerifier trusts tokens signed by any of keys (more than one allows rotating the API's key).
func NewVerifier(keys []ed25519.PublicKey, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{keys: keys, now: now}
}

// LoadPublicKeys reads one or more PEM "PUBLIC KEY" (PKIX) Ed25519 keys, as Node's
// crypto.generateKeyPairSync('ed25519') exports them.
func LoadPublicKeys(file string) ([]ed25519.PublicKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var keys []ed25519.PublicKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("%s: unexpected PEM block %q, want PUBLIC KEY", file, block.Type)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%s: key is %T, want Ed25519", file, k)
		}
		keys = append(keys, ek)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no PEM public key", file)
	}
	return keys, nil
}

type jwtHeader struct {
	Alg  string   `json:"alg"`
	Typ  string   `json:"typ"`
	Crit []string `json:"crit"`
}

type jwtPayload struct {
	Exp  *float64        `json:"exp"`
	Iat  *float64        `json:"iat"`
	Nbf  *float64        `json:"nbf"`
	Sub  string          `json:"sub"`
	Aud  json.RawMessage `json:"aud"`
	Role string          `json:"role"`
	NS   string          `json:"ns"`
	TQ   string          `json:"tq"`
}

// Verify checks a compact JWS: header alg must be EdDSA (never "none" or an HMAC a public key could be
// mistaken for), the signature must verify, and the claims must be complete, current and meant for us.
func (v *Verifier) Verify(token string) (*TokenClaims, error) {
	if len(token) > maxTokenLen {
		return nil, errors.New("token too long")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("malformed token")
	}
	var hdr jwtHeader
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return nil, fmt.Errorf("token header: %w", err)
	}
	if hdr.Alg != "EdDSA" {
		return nil, fmt.Errorf("token alg %q not accepted, want EdDSA", hdr.Alg)
	}
	if hdr.Typ != "" && !strings.EqualFold(hdr.Typ, "JWT") {
		return nil, fmt.Errorf("token typ %q not accepted", hdr.Typ)
	}
	if len(hdr.Crit) > 0 {
		return nil, errors.New("token has critical header extensions we do not understand")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, errors.New("malformed token signature")
	}
	signed := []byte(parts[0] + "." + parts[1])
	if !v.verifySignature(signed, sig) {
		return nil, errors.New("bad token signature")
	}

	var p jwtPayload
	if err := decodeSegment(parts[1], &p); err != nil {
		return nil, fmt.Errorf("token claims: %w", err)
	}
	now := v.now()
	if p.Exp == nil {
		return nil, errors.New("token has no exp")
	}
	exp := unixTime(*p.Exp)
	if !now.Before(exp) {
		return nil, fmt.Errorf("token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if p.Nbf != nil && now.Add(clockLeeway).Before(unixTime(*p.Nbf)) {
		return nil, errors.New("token not valid yet (nbf)")
	}
	if p.Iat != nil && now.Add(clockLeeway).Before(unixTime(*p.Iat)) {
		return nil, errors.New("token issued in the future (iat)")
	}
	if !audienceMatches(p.Aud) {
		return nil, fmt.Errorf("token aud is not %q", Audience)
	}
	c := &TokenClaims{Subject: p.Sub, Namespace: p.NS, TaskQueue: p.TQ, Expires: exp}
	switch p.Role {
	case "platform":
		c.Role = RolePlatform
	case "site":
		c.Role = RoleSite
		if p.TQ == "" {
			return nil, errors.New("site token has no tq")
		}
	default:
		return nil, fmt.Errorf("token role %q unknown", p.Role)
	}
	if p.NS == "" {
		return nil, errors.New("token has no ns")
	}
	return c, nil
}

func (v *Verifier) verifySignature(signed, sig []byte) bool {
	for _, k := range v.keys {
		if ed25519.Verify(k, signed, sig) {
			return true
		}
	}
	return false
}

// decodeSegment decodes unpadded base64url JSON, rejecting fields of the wrong type.
func decodeSegment(seg string, into any) error {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(into); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// audienceMatches accepts "aud" as a string or an array of strings (both are valid JWT).
func audienceMatches(raw json.RawMessage) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == Audience
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, a := range many {
			if a == Audience {
				return true
			}
		}
	}
	return false
}

// unixTime converts a NumericDate, clamped so absurd values cannot overflow into the past.
func unixTime(secs float64) time.Time {
	secs = math.Max(0, math.Min(secs, 1<<40))
	whole := math.Floor(secs)
	return time.Unix(int64(whole), int64((secs-whole)*1e9))
}

// bearerToken takes the token out of an "authorization" header value ("Bearer <jwt>", any case).
func bearerToken(header string) (string, bool) {
	const prefix = "bearer "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(header[len(prefix):]), true
}
