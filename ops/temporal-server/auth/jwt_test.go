package auth

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestVerifyAcceptsPlatformAndSiteTokens(t *testing.T) {
	k := newTestKeys(t)
	c, err := k.verifier().Verify(k.token(t, platformClaims()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != RolePlatform || c.Namespace != "default" || c.Subject != "api" {
		t.Errorf("platform claims: %+v", c)
	}
	c, err = k.verifier().Verify(k.token(t, siteClaims("site-1b2c")))
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != RoleSite || c.TaskQueue != "site-1b2c" {
		t.Errorf("site claims: %+v", c)
	}
	withArrayAud := siteClaims("site-a")
	withArrayAud["aud"] = []string{"other", "temporal"}
	if _, err := k.verifier().Verify(k.token(t, withArrayAud)); err != nil {
		t.Errorf("aud as an array: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	k := newTestKeys(t)
	other := newTestKeys(t)
	mod := func(f func(map[string]any)) string {
		c := siteClaims("site-a")
		f(c)
		return k.token(t, c)
	}
	good := k.token(t, siteClaims("site-a"))
	parts := strings.Split(good, ".")
	cases := map[string]string{
		"expired":               mod(func(c map[string]any) { c["exp"] = testNow.Unix() }),
		"expired long ago":      mod(func(c map[string]any) { c["exp"] = testNow.Add(-48 * time.Hour).Unix() }),
		"no exp":                mod(func(c map[string]any) { delete(c, "exp") }),
		"exp as a string":       mod(func(c map[string]any) { c["exp"] = "9999999999" }),
		"wrong aud":             mod(func(c map[string]any) { c["aud"] = "api" }),
		"no aud":                mod(func(c map[string]any) { delete(c, "aud") }),
		"aud array without us":  mod(func(c map[string]any) { c["aud"] = []string{"api"} }),
		"unknown role":          mod(func(c map[string]any) { c["role"] = "admin" }),
		"no role":               mod(func(c map[string]any) { delete(c, "role") }),
		"no ns":                 mod(func(c map[string]any) { delete(c, "ns") }),
		"site without tq":       mod(func(c map[string]any) { delete(c, "tq") }),
		"issued in the future":  mod(func(c map[string]any) { c["iat"] = testNow.Add(time.Hour).Unix() }),
		"not valid yet":         mod(func(c map[string]any) { c["nbf"] = testNow.Add(time.Hour).Unix() }),
		"signed by another key": other.token(t, siteClaims("site-a")),
		"claims changed after signing": parts[0] + "." +
			strings.Split(k.token(t, siteClaims("site-b")), ".")[1] + "." + parts[2],
		"alg none":       k.sign(t, map[string]any{"alg": "none"}, siteClaims("site-a")),
		"alg HS256":      k.sign(t, map[string]any{"alg": "HS256"}, siteClaims("site-a")),
		"no alg":         k.sign(t, map[string]any{"typ": "JWT"}, siteClaims("site-a")),
		"crit header":    k.sign(t, map[string]any{"alg": "EdDSA", "crit": []string{"x"}}, siteClaims("site-a")),
		"unsigned":       parts[0] + "." + parts[1] + ".",
		"two parts":      parts[0] + "." + parts[1],
		"padded base64":  good + "==",
		"garbage":        "not-a-token",
		"empty":          "",
		"too long":       good + strings.Repeat("A", maxTokenLen),
		"signature junk": parts[0] + "." + parts[1] + ".!!!!",
	}
	for name, tok := range cases {
		if c, err := k.verifier().Verify(tok); err == nil {
			t.Errorf("%s: accepted (%+v)", name, c)
		}
	}
}

func TestVerifyAcceptsAnyConfiguredKey(t *testing.T) {
	old, cur := newTestKeys(t), newTestKeys(t)
	v := NewVerifier([]ed25519.PublicKey{old.pub, cur.pub}, func() time.Time { return testNow })
	for _, k := range []testKeys{old, cur} {
		if _, err := v.Verify(k.token(t, platformClaims())); err != nil {
			t.Error(err)
		}
	}
}

func TestBearerToken(t *testing.T) {
	for in, want := range map[string]string{"Bearer abc": "abc", "bearer abc": "abc", "BEARER  abc ": "abc"} {
		if got, ok := bearerToken(in); !ok || got != want {
			t.Errorf("%q: got %q %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "Bearer", "Bearer ", "Basic abc", "abc"} {
		if got, ok := bearerToken(in); ok && got != "" {
			t.Errorf("%q accepted as %q", in, got)
		}
	}
}

func TestLoadPublicKeys(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestKeys(t), newTestKeys(t)
	var data []byte
	for _, k := range []testKeys{a, b} {
		der, err := x509.MarshalPKIXPublicKey(k.pub)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	file := filepath.Join(dir, "keys.pem")
	os.WriteFile(file, data, 0o644)
	keys, err := LoadPublicKeys(file)
	if err != nil || len(keys) != 2 || !keys[1].Equal(b.pub) {
		t.Fatalf("got %d keys, %v", len(keys), err)
	}

	der, _ := x509.MarshalPKCS8PrivateKey(a.priv)
	os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o644)
	if _, err := LoadPublicKeys(file); err == nil {
		t.Error("a private key file was accepted as the public key")
	}
	os.WriteFile(file, []byte("nothing"), 0o644)
	if _, err := LoadPublicKeys(file); err == nil {
		t.Error("a file without keys was accepted")
	}
}
