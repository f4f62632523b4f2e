package server

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/auth"
	"github.com/strata-dev/strata/core"
)

// localPrincipal is the fiber.Ctx local holding the request's principal.
const localPrincipal = "strata.principal"

// errNoCredentials and errBadCredentials are the two 401s: the first asks
// for a token, the second says the one given is not accepted (RFC 6750).
var (
	errNoCredentials  = &fiber.Error{Code: fiber.StatusUnauthorized, Message: "this request needs credentials: Authorization: Bearer <token>"}
	errBadCredentials = &fiber.Error{Code: fiber.StatusUnauthorized, Message: "the bearer token is invalid, expired or revoked"}
)

// authenticate establishes the request's principal from its Authorization
// header. A request without one is anonymous; a request with a bad one is
// refused outright, so a typo in a token never silently downgrades a
// client to anonymous.
func (s *Server) authenticate(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	if h == "" {
		return nil
	}
	// Fiber's header strings point into a buffer reused after the request;
	// the token must not outlive it by aliasing (it keys a cache).
	scheme, token, _ := strings.Cut(strings.Clone(h), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return errBadCredentials
	}
	if s.auth == nil {
		return errBadCredentials
	}
	p, err := s.auth.Authenticate(c.UserContext(), token)
	if errors.Is(err, auth.ErrInvalidToken) {
		// The reason is logged, never the token.
		s.log.DebugContext(c.UserContext(), "credentials refused", slog.String("ip", c.IP()), slog.String("reason", err.Error()))
		return errBadCredentials
	}
	if err != nil {
		return err
	}
	c.Locals(localPrincipal, p)
	// core takes who acts from the context: every Manager call of this
	// request is authorized for p there.
	c.SetUserContext(core.WithPrincipal(c.UserContext(), p))
	return nil
}

// admit establishes the request's principal and applies the rate limit
// that fits it: an authenticated request counts against its principal;
// an anonymous one, or one whose credentials are refused, against its
// client address. An address already out of tokens is refused before its
// token is verified, so a flood of forged tokens costs no signature checks.
func (s *Server) admit(c *fiber.Ctx) error {
	if c.Get(fiber.HeaderAuthorization) == "" {
		return s.limitIP(c)
	}
	if s.ipExhausted(c) {
		if err := s.limitIP(c); err != nil {
			return err
		}
	}
	if err := s.authenticate(c); err != nil {
		if limited := s.limitIP(c); limited != nil {
			return limited
		}
		return err
	}
	return s.limitAuthenticated(c, principal(c))
}

// principal is who makes the request; the zero Principal is anonymous.
func principal(c *fiber.Ctx) core.Principal {
	p, _ := c.Locals(localPrincipal).(core.Principal)
	return p
}

// setAuthenticate adds the WWW-Authenticate challenge RFC 9110 requires on
// every 401.
func setAuthenticate(c *fiber.Ctx, err error) {
	v := `Bearer realm="strata"`
	var fe *fiber.Error
	if errors.As(err, &fe) && fe == errBadCredentials {
		v += `, error="invalid_token"`
	}
	c.Set(fiber.HeaderWWWAuthenticate, v)
}

// keyRequest is the body of POST /api/keys.
type keyRequest struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

func (s *Server) createKey(c *fiber.Ctx) error {
	if err := core.RequireAdmin(c.UserContext()); err != nil {
		return err
	}
	keys, err := s.keyStore()
	if err != nil {
		return err
	}
	var req keyRequest
	if err := decodeStrict(c, &req, "key"); err != nil {
		return err
	}
	k, token, err := keys.Create(c.UserContext(), req.Name, req.Roles, principal(c))
	if err != nil {
		return err
	}
	c.Location(strings.TrimSuffix(c.Path(), "/") + "/" + k.ID)
	// The token is in this response only; it is stored hashed.
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, fiber.StatusCreated, fiber.Map{"id": k.ID, "name": k.Name, "roles": k.Roles,
		"created_at": k.CreatedAt, "created_by": k.CreatedBy, "token": token})
}

func (s *Server) listKeys(c *fiber.Ctx) error {
	if err := core.RequireAdmin(c.UserContext()); err != nil {
		return err
	}
	keys, err := s.keyStore()
	if err != nil {
		return err
	}
	list, err := keys.List(c.UserContext())
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, fiber.Map{"items": list})
}

func (s *Server) revokeKey(c *fiber.Ctx) error {
	if err := core.RequireAdmin(c.UserContext()); err != nil {
		return err
	}
	keys, err := s.keyStore()
	if err != nil {
		return err
	}
	if err := keys.Revoke(c.UserContext(), param(c, "id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) keyStore() (*auth.Keys, error) {
	if s.auth == nil || s.auth.Keys() == nil {
		return nil, &core.Error{Kind: core.ErrNotFound, Detail: "this server keeps no API keys"}
	}
	return s.auth.Keys(), nil
}
