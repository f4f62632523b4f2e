package core

import (
	"slices"
	"strings"
)

// Permission actions: the keys of Type.Permissions.
const (
	PermRead   = "read"
	PermCreate = "create"
	PermUpdate = "update"
	PermDelete = "delete"
	// PermAdmin covers purge, switch and changing or dropping the type.
	PermAdmin = "admin"
)

// RoleAdmin is the role of administrators: they may do everything, on
// every type, whatever its permissions say.
const RoleAdmin = "admin"

// Authenticated reports whether p was established from a credential.
func (p Principal) Authenticated() bool { return p.ID != "" }

// HasRole reports whether p holds role.
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// IsAdmin reports whether p is an administrator (or System).
func (p Principal) IsAdmin() bool { return p.system || p.Authenticated() && p.HasRole(RoleAdmin) }

// Grant is what a permission list gives one principal for one action.
// The zero value grants nothing.
type Grant struct {
	// All: the action is allowed on every resource of the type.
	All bool
	// Owner: the action is allowed on resources the principal created.
	Owner bool
}

// None reports whether the grant allows nothing at all.
func (g Grant) None() bool { return !g.All && !g.Owner }

// Allows reports whether the grant admits p acting on a resource created
// by createdBy.
func (g Grant) Allows(p Principal, createdBy string) bool {
	return g.All || g.Owner && p.Authenticated() && createdBy == p.ID
}

// Grant evaluates the type's permission list for action against p.
// Administrators are granted everything; a type without permissions grants
// nothing to anyone else. For create, "owner" admits any authenticated
// principal: whoever creates a resource becomes its owner.
func (t *Type) Grant(p Principal, action string) Grant {
	if p.IsAdmin() {
		return Grant{All: true}
	}
	var g Grant
	for _, who := range t.Permissions[action] {
		switch {
		case who == "public":
			g.All = true
		case who == "authenticated":
			g.All = g.All || p.Authenticated()
		case who == "owner":
			if action == PermCreate {
				g.All = g.All || p.Authenticated()
			} else {
				g.Owner = g.Owner || p.Authenticated()
			}
		case strings.HasPrefix(who, "role:"):
			g.All = g.All || p.Authenticated() && p.HasRole(who[len("role:"):])
		}
	}
	if g.All {
		g.Owner = false
	}
	return g
}

// Visible reports whether p has any permission on the type, so that its
// definition may be shown to p.
func (t *Type) Visible(p Principal) bool {
	for _, action := range permActions {
		if !t.Grant(p, action).None() {
			return true
		}
	}
	return false
}
