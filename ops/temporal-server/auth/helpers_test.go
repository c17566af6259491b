package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"go.temporal.io/server/common/authorization"
)

// testNow is the fixed clock of these tests.
var testNow = time.Unix(1_800_000_000, 0)

type testKeys struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newTestKeys(t *testing.T) testKeys {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKeys{pub, priv}
}

// sign makes a compact JWS with the given header and claims, as the API's node:crypto code does.
func (k testKeys) sign(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(header) + "." + enc(claims)
	return signing + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(k.priv, []byte(signing)))
}

func (k testKeys) token(t *testing.T, claims map[string]any) string {
	return k.sign(t, map[string]any{"alg": "EdDSA", "typ": "JWT"}, claims)
}

func platformClaims() map[string]any {
	return map[string]any{"sub": "api", "aud": "temporal", "role": "platform", "ns": "default",
		"iat": testNow.Unix(), "exp": testNow.Add(time.Hour).Unix()}
}

func siteClaims(tq string) map[string]any {
	return map[string]any{"sub": "site:" + tq, "aud": "temporal", "role": "site", "ns": "default", "tq": tq,
		"iat": testNow.Unix(), "exp": testNow.Add(time.Hour).Unix()}
}

func (k testKeys) verifier() *Verifier {
	return NewVerifier([]ed25519.PublicKey{k.pub}, func() time.Time { return testNow })
}

// claimsFor runs a token through the claim mapper as the server does with the authorization header.
func (k testKeys) claimsFor(t *testing.T, claims map[string]any) *authorization.Claims {
	t.Helper()
	c, err := NewClaimMapper(k.verifier(), nil).GetClaims(&authorization.AuthInfo{AuthToken: "Bearer " + k.token(t, claims)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
