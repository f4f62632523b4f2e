package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/auth"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/sdk/storage"
)

const (
	adminKey  = "admin-key-for-tests-0123"
	jwtSecret = "a-jwt-secret-that-is-long-enough-0123456789"
)

// openStore is a bolt store in a temporary directory that a Manager runs
// over too, as the keys share a server's store.
func openStore(t *testing.T) storage.Store {
	t.Helper()
	return apptest.New(t).Store
}

func TestAPIKeys(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	ks := auth.NewKeys(store)
	a, err := auth.New(ks, auth.Config{AdminKey: adminKey})
	if err != nil {
		t.Fatal(err)
	}
	k, token, err := ks.Create(ctx, "ci", []string{"editor"}, core.Principal{ID: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, "sk_"+k.ID+"_") || len(k.Hash) != 0 {
		t.Fatalf("token %q / key %+v", token, k)
	}
	p, err := a.Authenticate(ctx, token)
	if err != nil || p.ID != "key:"+k.ID || !slices.Equal(p.Roles, []string{"editor"}) || p.IsAdmin() {
		t.Fatalf("key principal %+v, %v", p, err)
	}
	// A second store over the same file (a restart) knows the key too, and
	// nothing secret is stored.
	list, err := auth.NewKeys(store).List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "ci" || list[0].Hash != nil {
		t.Fatalf("list %+v, %v", list, err)
	}
	if admin, _ := a.HasAdmin(ctx); !admin {
		t.Fatal("the admin key is an admin")
	}

	bad := []string{
		"", "sk_", "sk_" + k.ID, "sk_" + k.ID + "_", token + "x", token[:len(token)-1],
		strings.Replace(token, k.ID, "0193aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa", 1),
		adminKey + " ", strings.ToUpper(adminKey), "eyJ.eyJ.sig",
	}
	for _, tok := range bad {
		if _, err := a.Authenticate(ctx, tok); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("token %q: %v, want ErrInvalidToken", tok, err)
		}
	}
	if p, err := a.Authenticate(ctx, adminKey); err != nil || !p.IsAdmin() || p.ID != auth.AdminID {
		t.Fatalf("admin key: %+v %v", p, err)
	}

	if err := ks.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, token); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("revoked key still works: %v", err)
	}
	if err := ks.Revoke(ctx, k.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("revoking twice: %v", err)
	}

	for _, tc := range []struct {
		name  string
		roles []string
	}{{"", nil}, {strings.Repeat("n", 101), nil}, {"ok", []string{"bad role"}}, {"ok", []string{""}}} {
		if _, _, err := ks.Create(ctx, tc.name, tc.roles, core.Principal{}); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("create %q %q: %v, want ErrInvalid", tc.name, tc.roles, err)
		}
	}

	// An admin key in storage counts as a configured admin.
	noEnv, _ := auth.New(ks, auth.Config{})
	if ok, _ := noEnv.HasAdmin(ctx); ok {
		t.Fatal("no admin yet")
	}
	if _, _, err := ks.Create(ctx, "root", []string{core.RoleAdmin}, core.Principal{}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := noEnv.HasAdmin(ctx); !ok {
		t.Fatal("a stored admin key is an admin")
	}
	if _, err := auth.New(ks, auth.Config{AdminKey: "short"}); err == nil {
		t.Fatal("a short admin key is refused")
	}
}

// jwksFile writes the public halves of keys to a JWKS file.
func jwksFile(t *testing.T, keys map[string]any) string {
	t.Helper()
	var set jose.JSONWebKeySet
	for kid, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k, KeyID: kid, Use: "sig"})
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestJWT(t *testing.T) {
	ctx := context.Background()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	path := jwksFile(t, map[string]any{"r1": &rsaKey.PublicKey, "e1": &ecKey.PublicKey})
	a, err := auth.New(nil, auth.Config{JWT: auth.JWTConfig{Secret: jwtSecret, JWKSFile: path,
		Issuer: "https://issuer.test", Audience: "strata"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "alice", "roles": []string{"editor"}, "iss": "https://issuer.test",
			"aud": "strata", "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(m, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hs := []byte(jwtSecret)
	cases := []struct {
		name  string
		token string
		ok    bool
		id    string // the principal id of an accepted token
	}{
		{"HS256", sign(jwt.SigningMethodHS256, hs, "", good()), true, "jwt:alice"},
		{"RS256", sign(jwt.SigningMethodRS256, rsaKey, "r1", good()), true, "jwks:alice"},
		{"ES256", sign(jwt.SigningMethodES256, ecKey, "e1", good()), true, "jwks:alice"},
		// Subjects that name another issuer's principals stay in the
		// token's own namespace.
		{"sub of an API key", sign(jwt.SigningMethodHS256, hs, "", with("sub", "key:k1")), true, "jwt:key:k1"},
		{"sub admin", sign(jwt.SigningMethodHS256, hs, "", with("sub", "admin")), true, "jwt:admin"},
		{"sub of the other JWT issuer", sign(jwt.SigningMethodRS256, rsaKey, "r1", with("sub", "jwt:alice")), true, "jwks:jwt:alice"},
		{"expired", sign(jwt.SigningMethodHS256, hs, "", with("exp", now.Add(-time.Hour).Unix())), false, ""},
		{"no exp", sign(jwt.SigningMethodHS256, hs, "", with("exp", nil)), false, ""},
		{"not yet valid", sign(jwt.SigningMethodHS256, hs, "", with("nbf", now.Add(time.Hour).Unix())), false, ""},
		{"wrong issuer", sign(jwt.SigningMethodHS256, hs, "", with("iss", "https://evil.test")), false, ""},
		{"wrong audience", sign(jwt.SigningMethodHS256, hs, "", with("aud", "other")), false, ""},
		{"no sub", sign(jwt.SigningMethodHS256, hs, "", with("sub", nil)), false, ""},
		{"roles not a list", sign(jwt.SigningMethodHS256, hs, "", with("roles", "admin")), false, ""},
		{"wrong secret", sign(jwt.SigningMethodHS256, []byte(jwtSecret+"x"), "", good()), false, ""},
		{"HS512", sign(jwt.SigningMethodHS512, hs, "", good()), false, ""},
		{"unknown kid", sign(jwt.SigningMethodRS256, rsaKey, "r9", good()), false, ""},
		{"kid of another kind", sign(jwt.SigningMethodRS256, rsaKey, "e1", good()), false, ""},
		{"other RSA key", sign(jwt.SigningMethodRS256, otherRSA, "r1", good()), false, ""},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", good()), false, ""},
		{"garbage", "a.b.c", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := a.Authenticate(ctx, tc.token)
			if !tc.ok {
				if !errors.Is(err, auth.ErrInvalidToken) {
					t.Fatalf("accepted (%+v) or wrong error: %v", p, err)
				}
				return
			}
			if err != nil || p.ID != tc.id || !slices.Equal(p.Roles, []string{"editor"}) || p.IsAdmin() {
				t.Fatalf("principal %+v, %v", p, err)
			}
		})
	}

	// With only a JWKS, an HS256 token signed with the RSA public key (the
	// algorithm-confusion attack) is refused.
	onlyJWKS, err := auth.New(nil, auth.Config{JWT: auth.JWTConfig{JWKSFile: jwksFile(t, map[string]any{"": &rsaKey.PublicKey})}})
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := json.Marshal(&rsaKey.PublicKey)
	if _, err := onlyJWKS.Authenticate(ctx, sign(jwt.SigningMethodHS256, pubDER, "", good())); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("HS256 with a JWKS only: %v", err)
	}
	// A set with a single key serves tokens without a kid.
	if _, err := onlyJWKS.Authenticate(ctx, sign(jwt.SigningMethodRS256, rsaKey, "", good())); err != nil {
		t.Fatalf("single-key JWKS without kid: %v", err)
	}

	for _, cfg := range []auth.JWTConfig{{Secret: "short"}, {JWKSFile: filepath.Join(t.TempDir(), "missing.json")}} {
		if _, err := auth.New(nil, auth.Config{JWT: cfg}); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}
