// Package auth establishes who makes a request: it turns a bearer token —
// the administrator key, an API key or a JSON Web Token — into a
// core.Principal, and keeps the API keys.
//
// What a principal may do is decided by the type's permissions
// (core.Type.Grant); this package only says who it is.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/strata-dev/strata/core"
)

// AdminID is the principal id of the administrator key.
const AdminID = "admin"

// Config configures an Authenticator.
type Config struct {
	// AdminKey, when set, is a token that acts as an administrator
	// (STRATA_ADMIN_KEY).
	AdminKey string
	// MetricsToken, when set, is a token that may read /metrics and
	// nothing else (metrics_token): it stands for an anonymous principal
	// holding core.RoleMetrics.
	MetricsToken string
	JWT          JWTConfig
}

// ErrInvalidToken: the bearer token is not a valid credential. Its wrapped
// message says why, for logs; clients are told only that it is invalid.
var ErrInvalidToken = errors.New("auth: invalid token")

// Authenticator turns bearer tokens into principals. It is safe for
// concurrent use.
type Authenticator struct {
	keys      *Keys
	adminHash [sha256.Size]byte
	hasAdmin  bool
	// metricsHash is the digest of the metrics token, when hasMetrics.
	metricsHash [sha256.Size]byte
	hasMetrics  bool
	jwt         *jwtVerifier
}

// New returns an Authenticator over keys (which may be nil: no API keys).
func New(keys *Keys, cfg Config) (*Authenticator, error) {
	a := &Authenticator{keys: keys}
	if cfg.AdminKey != "" {
		if len(cfg.AdminKey) < 16 {
			return nil, errors.New("the admin key must be at least 16 characters")
		}
		a.adminHash, a.hasAdmin = sha256.Sum256([]byte(cfg.AdminKey)), true
	}
	if cfg.MetricsToken != "" {
		if len(cfg.MetricsToken) < 16 {
			return nil, errors.New("the metrics token must be at least 16 characters")
		}
		a.metricsHash, a.hasMetrics = sha256.Sum256([]byte(cfg.MetricsToken)), true
	}
	v, err := newJWTVerifier(cfg.JWT)
	if err != nil {
		return nil, fmt.Errorf("configure JWT: %w", err)
	}
	a.jwt = v
	return a, nil
}

// Keys returns the API key store, or nil.
func (a *Authenticator) Keys() *Keys { return a.keys }

// HasAdmin reports whether some administrator credential is configured:
// the admin key, a stored admin API key, or JWT verification (whose
// issuer may mint admin tokens).
func (a *Authenticator) HasAdmin(ctx context.Context) (bool, error) {
	if a.hasAdmin || a.jwt != nil {
		return true, nil
	}
	if a.keys == nil {
		return false, nil
	}
	return a.keys.AnyAdmin(ctx)
}

// Authenticate returns the principal a bearer token stands for. Every
// failure wraps ErrInvalidToken.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (core.Principal, error) {
	if a.hasAdmin {
		// Compare digests so the comparison takes the same time whatever
		// the token's length and content.
		sum := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(sum[:], a.adminHash[:]) == 1 {
			return core.Principal{ID: AdminID, Roles: []string{core.RoleAdmin}}, nil
		}
	}
	if a.hasMetrics {
		sum := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(sum[:], a.metricsHash[:]) == 1 {
			// Not authenticated: the token grants what anonymous clients
			// have, and /metrics (core.RequireMetricsReader).
			return core.Principal{Roles: []string{core.RoleMetrics}}, nil
		}
	}
	switch {
	case strings.HasPrefix(token, keyPrefix) && a.keys != nil:
		k, err := a.keys.verify(ctx, token)
		if err != nil {
			if errors.Is(err, errBadKey) {
				return core.Principal{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
			}
			return core.Principal{}, err
		}
		return k.Principal(), nil
	case strings.Count(token, ".") == 2 && a.jwt != nil:
		p, err := a.jwt.verify(token)
		if err != nil {
			return core.Principal{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
		}
		return p, nil
	}
	return core.Principal{}, fmt.Errorf("%w: not a key this server knows", ErrInvalidToken)
}
