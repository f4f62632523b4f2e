package server

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/core"
)

// Every route that touches a type checks the type's permissions here
// before it calls the Manager. The rules (SPEC §3):
//
//   - an anonymous request that is not allowed gets 401, so it knows a
//     token could help;
//   - an authenticated principal that may not read a resource gets 404,
//     exactly as if the id did not exist, so ids cannot be probed; one that
//     may read it but not do the action gets 403;
//   - a principal whose read grant is "owner" only sees its own resources:
//     lists and counts are filtered in the index query, so pages stay full
//     and totals right.

// typeGrant returns the type and what p may do for action on it. A type
// p has no permission on answers exactly as a type that does not exist,
// so type names cannot be probed (hiddenType).
func (s *Server) typeGrant(typ string, p core.Principal, action string) (core.Type, core.Grant, error) {
	t, err := s.m.Type(typ)
	if err == nil && !t.Visible(p) {
		err = core.ErrNotFound
	}
	if errors.Is(err, core.ErrNotFound) {
		return core.Type{}, core.Grant{}, s.hiddenType(p, typ)
	}
	if err != nil {
		return t, core.Grant{}, err
	}
	return t, t.Grant(p, action), nil
}

// hiddenType is the answer about a type that does not exist or that p
// has no permission on: the two are indistinguishable. An anonymous
// request is told that a token might help (401) whenever the server
// accepts tokens, whether or not the type exists.
func (s *Server) hiddenType(p core.Principal, typ string) error {
	if !p.Authenticated() && s.auth != nil {
		return errNoCredentials
	}
	return &core.Error{Kind: core.ErrNotFound, Detail: fmt.Sprintf("unknown type %q", typ)}
}

// notFound is the 404 a missing resource gets, word for word, so that a
// hidden one reads the same.
func notFound(typ, id string) error {
	return &core.Error{Kind: core.ErrNotFound, Detail: fmt.Sprintf("%s/%s not found", typ, id)}
}

func forbidden(action, typ string) error {
	return fiber.NewError(fiber.StatusForbidden, fmt.Sprintf("you may not %s %s", action, typ))
}

// allowType checks an action that does not address one resource (create,
// list, count). An owner-only grant passes; the caller scopes by owner.
func (s *Server) allowType(p core.Principal, typ, action string) (core.Grant, error) {
	_, g, err := s.typeGrant(typ, p, action)
	if err != nil {
		return g, err
	}
	if g.None() {
		if !p.Authenticated() {
			return g, errNoCredentials
		}
		return g, forbidden(action, typ)
	}
	return g, nil
}

// allowResource checks an action on one resource. The resource is read
// only when the grant depends on who created it. When it does not exist,
// the caller's own call reports that.
func (s *Server) allowResource(ctx context.Context, p core.Principal, typ, id, action string) error {
	t, g, err := s.typeGrant(typ, p, action)
	if err != nil {
		return err
	}
	if g.All {
		return nil
	}
	if !p.Authenticated() {
		return errNoCredentials
	}
	res, err := s.m.Get(ctx, typ, id, core.GetOptions{IncludeDeleted: true})
	if errors.Is(err, core.ErrNotFound) {
		if g.None() {
			return notFound(typ, id)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if g.Allows(p, res.Meta.CreatedBy) {
		return nil
	}
	if action != core.PermRead && t.Grant(p, core.PermRead).Allows(p, res.Meta.CreatedBy) {
		return forbidden(action, typ+"/"+id)
	}
	return notFound(typ, id)
}

// allowRead checks that the request may read a resource already loaded.
func allowRead(c *fiber.Ctx, t core.Type, res *core.Resource) error {
	p := principal(c)
	g := t.Grant(p, core.PermRead)
	if g.Allows(p, res.Meta.CreatedBy) {
		return nil
	}
	if !p.Authenticated() {
		return errNoCredentials
	}
	return notFound(res.Type, res.ID)
}

// readableTypes returns the names of the types p may read every resource
// of; all is set for administrators.
func (s *Server) readableTypes(p core.Principal) (names []string, all bool) {
	if p.IsAdmin() {
		return nil, true
	}
	for _, t := range s.m.Types() {
		if t.Grant(p, core.PermRead).All {
			names = append(names, t.Name)
		}
	}
	return names, false
}

// opPermission is the permission a batch operation needs.
func opPermission(k core.OpKind) string {
	switch k {
	case core.OpCreate:
		return core.PermCreate
	case core.OpReplace, core.OpPatch:
		return core.PermUpdate
	case core.OpDelete, core.OpRestore:
		return core.PermDelete
	}
	return core.PermAdmin
}

// isDenied reports whether err is a refusal by allowResource rather than
// a failure.
func isDenied(err error) bool {
	var fe *fiber.Error
	return errors.Is(err, core.ErrNotFound) || errors.As(err, &fe) &&
		(fe.Code == fiber.StatusUnauthorized || fe.Code == fiber.StatusForbidden)
}

// scopeChanges narrows a change-log request to the types the principal may
// read in full: nil means every type, an empty list none. Types readable
// only by owner are left out, since a change entry does not say who owns
// the resource.
func (s *Server) scopeChanges(c *fiber.Ctx, asked []string) ([]string, error) {
	p := principal(c)
	readable, all := s.readableTypes(p)
	if all {
		return asked, nil
	}
	if len(readable) == 0 && !p.Authenticated() {
		return nil, errNoCredentials
	}
	if len(asked) == 0 {
		return append([]string{}, readable...), nil
	}
	scoped := []string{}
	for _, t := range asked {
		if slices.Contains(readable, t) {
			scoped = append(scoped, t)
		}
	}
	return scoped, nil
}
