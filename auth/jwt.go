package auth

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/strata-dev/strata/core"
)

// JWTConfig says which JSON Web Tokens are accepted. With neither Secret
// nor JWKSFile set, no JWT is.
type JWTConfig struct {
	// Secret verifies HS256 tokens.
	Secret string
	// JWKSFile is a JSON Web Key Set file whose RSA and EC public keys
	// verify RS256 and ES256 tokens, chosen by the token's kid.
	JWKSFile string
	// Issuer and Audience, when set, must match the iss and aud claims.
	Issuer, Audience string
	// Leeway tolerates clock skew in exp and nbf. Zero means 30 s.
	Leeway time.Duration
}

// claims are the claims Strata reads: sub names the principal, roles its
// roles; exp is required.
type claims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles"`
}

// jwtVerifier checks signatures and claims with golang-jwt.
type jwtVerifier struct {
	parser *jwt.Parser
	secret []byte
	// keys by kid; noKid is the only key of the set when it has exactly
	// one, used for tokens without a kid.
	keys  map[string]any
	noKid any
}

func newJWTVerifier(cfg JWTConfig) (*jwtVerifier, error) {
	if cfg.Secret == "" && cfg.JWKSFile == "" {
		return nil, nil
	}
	v := &jwtVerifier{keys: map[string]any{}}
	var methods []string
	if cfg.Secret != "" {
		if len(cfg.Secret) < 32 {
			return nil, errors.New("auth.jwt_secret must be at least 32 bytes: a shorter HS256 secret can be guessed offline")
		}
		v.secret = []byte(cfg.Secret)
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.JWKSFile != "" {
		if err := v.loadJWKS(cfg.JWKSFile); err != nil {
			return nil, err
		}
		methods = append(methods, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
	}
	leeway := cfg.Leeway
	if leeway == 0 {
		leeway = 30 * time.Second
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithExpirationRequired(), jwt.WithLeeway(leeway)}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

func (v *jwtVerifier) loadJWKS(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read JWKS file %s: %w", path, err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return fmt.Errorf("parse JWKS file %s: %w", path, err)
	}
	var only []any
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var pub any
		switch key := k.Key.(type) {
		case *rsa.PublicKey:
			pub = key
		case *rsa.PrivateKey:
			pub = &key.PublicKey
		case *ecdsa.PublicKey:
			pub = key
		case *ecdsa.PrivateKey:
			pub = &key.PublicKey
		default:
			continue
		}
		if k.KeyID != "" {
			v.keys[k.KeyID] = pub
		}
		only = append(only, pub)
	}
	if len(only) == 0 {
		return fmt.Errorf("JWKS file %s holds no RSA or EC signing key", path)
	}
	if len(only) == 1 {
		v.noKid = only[0]
	}
	return nil
}

// key picks the verification key for a parsed, not yet verified, token.
func (v *jwtVerifier) key(t *jwt.Token) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if v.secret == nil {
			return nil, errors.New("HS256 tokens are not accepted")
		}
		return v.secret, nil
	case *jwt.SigningMethodRSA, *jwt.SigningMethodECDSA:
		var key any
		if kid, _ := t.Header["kid"].(string); kid != "" {
			key = v.keys[kid]
		} else {
			key = v.noKid
		}
		switch key.(type) {
		case *rsa.PublicKey:
			if _, ok := t.Method.(*jwt.SigningMethodRSA); ok {
				return key, nil
			}
		case *ecdsa.PublicKey:
			if _, ok := t.Method.(*jwt.SigningMethodECDSA); ok {
				return key, nil
			}
		}
		return nil, errors.New("no matching key in the JWKS")
	}
	return nil, fmt.Errorf("signing method %s is not accepted", t.Method.Alg())
}

func (v *jwtVerifier) verify(token string) (core.Principal, error) {
	var c claims
	tok, err := v.parser.ParseWithClaims(token, &c, v.key)
	if err != nil {
		return core.Principal{}, fmt.Errorf("invalid JWT: %w", err)
	}
	if c.Subject == "" {
		return core.Principal{}, errors.New("invalid JWT: no sub claim")
	}
	for _, r := range c.Roles {
		if !roleRE.MatchString(r) {
			return core.Principal{}, errors.New("invalid JWT: bad role name")
		}
	}
	return core.Principal{ID: jwtPrincipalID(tok.Method, c.Subject), Roles: c.Roles}, nil
}

// Principal id namespaces of JWTs. Each issuer Strata trusts gets its
// own, apart from the admin key's "admin" and the API keys' "key:", so a
// token whose sub is "key:<id>" or "admin" is never taken for another
// issuer's principal: the HS256 secret and the JWKS are different
// issuers, and whoever holds one may mint any sub within its namespace
// only.
const (
	jwtSecretPrefix = "jwt:"
	jwksPrefix      = "jwks:"
)

// jwtPrincipalID is the principal id of a verified token's subject.
func jwtPrincipalID(m jwt.SigningMethod, sub string) string {
	if _, ok := m.(*jwt.SigningMethodHMAC); ok {
		return jwtSecretPrefix + sub
	}
	return jwksPrefix + sub
}
