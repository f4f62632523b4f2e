package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/strata-dev/strata/sdk/storage"
)

// Who acts is carried in the context: every Manager read and write takes
// it from there (PrincipalFrom), and a context without one is anonymous.
// Code that acts on its own authority (config-declared types, command-line
// tools on a data directory, the search index following the change log,
// after-hooks) says so with AsSystem.
//
// The rules (SPEC §3), decided here and nowhere else:
//
//   - a type the principal has no permission on answers exactly as a type
//     that does not exist, so type names cannot be probed;
//   - an anonymous request that is not allowed gets ErrUnauthenticated, so
//     it knows a credential could help;
//   - an authenticated principal that may not read a resource gets
//     ErrNotFound, word for word as for a missing id; one that may read it
//     but not do the action gets ErrForbidden;
//   - a principal whose read grant is "owner" only sees its own resources,
//     in lists, counts, searches and referrers alike.

type principalKey struct{}

// WithPrincipal returns ctx carrying p as who acts.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns who acts in ctx; the zero Principal (anonymous)
// when ctx carries none.
func PrincipalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// System is the trusted principal of the operator and of Strata itself:
// it may do everything, and what it writes is recorded without an author.
var System = Principal{system: true}

// AsSystem returns ctx acting as System.
func AsSystem(ctx context.Context) context.Context { return WithPrincipal(ctx, System) }

// IsSystem reports whether p is the trusted System principal.
func (p Principal) IsSystem() bool { return p.system }

// hiddenType is the answer about a type that does not exist or that p has
// no permission on: the two are indistinguishable.
func hiddenType(p Principal, typ string) error {
	if !p.Authenticated() && !p.system {
		return errorf(ErrUnauthenticated, "this request needs credentials")
	}
	return errorf(ErrNotFound, "unknown type %q", typ)
}

// resourceNotFound is the answer for a missing resource, word for word, so
// that an unreadable one reads the same.
func resourceNotFound(typ, id string) error {
	return errorf(ErrNotFound, "%s/%s not found", typ, id)
}

func forbidden(action, what string) error {
	return errorf(ErrForbidden, "you may not %s %s", action, what)
}

// denied is the error for p not allowed something it can see exists.
func denied(p Principal, action, what string) error {
	if !p.Authenticated() && !p.system {
		return errorf(ErrUnauthenticated, "this request needs credentials")
	}
	return forbidden(action, what)
}

// authType looks up the type typ as p may see it.
func (m *Manager) authType(p Principal, typ string) (*compiledType, error) {
	ct, err := m.lookupType(typ)
	if err == nil && !ct.def.Visible(p) {
		err = ErrNotFound
	}
	if errors.Is(err, ErrNotFound) {
		return nil, hiddenType(p, typ)
	}
	return ct, err
}

// allowType checks an action that does not address one resource (create,
// list, count); an owner-only grant passes and the caller scopes by owner.
func (m *Manager) allowType(ctx context.Context, typ, action string) (*compiledType, Grant, error) {
	p := PrincipalFrom(ctx)
	ct, err := m.authType(p, typ)
	if err != nil {
		return nil, Grant{}, err
	}
	g := ct.def.Grant(p, action)
	if g.None() {
		return nil, g, denied(p, action, typ)
	}
	return ct, g, nil
}

// allowRead checks that p may read a resource created by createdBy.
func allowRead(p Principal, ct *compiledType, id, createdBy string) error {
	if ct.def.Grant(p, PermRead).Allows(p, createdBy) {
		return nil
	}
	if !p.Authenticated() && !p.system {
		return errorf(ErrUnauthenticated, "this request needs credentials")
	}
	return resourceNotFound(ct.def.Name, id)
}

// readGrant checks the type-level read permission before a read of one
// resource; its creator is checked with allowRead once it is loaded.
func (m *Manager) readGrant(ctx context.Context, typ, id string) (Principal, error) {
	p := PrincipalFrom(ctx)
	ct, err := m.authType(p, typ)
	if err != nil {
		return p, err
	}
	if ct.def.Grant(p, PermRead).None() {
		if !p.Authenticated() {
			return p, errorf(ErrUnauthenticated, "this request needs credentials")
		}
		return p, resourceNotFound(typ, id)
	}
	return p, nil
}

// allowWrite decides whether p may apply an operation needing action to
// the resource id of ct: found says whether it exists (live or deleted),
// createdBy who created it. Where the grant depends on the creator, the
// pipeline asks it twice: before the hook chains, against the state the
// write is staged on (authorize.go), and in the commit's transaction,
// against the state it is applied to (commit.go), so a resource purged and
// re-created under the same id meanwhile is judged as what it now is.
func allowWrite(p Principal, ct *compiledType, action, id string, found bool, createdBy string) error {
	g := ct.def.Grant(p, action)
	switch {
	case g.All:
		return nil
	case !found:
		if g.None() {
			return resourceNotFound(ct.def.Name, id)
		}
		return nil // the operation itself reports the resource missing
	case g.Allows(p, createdBy):
		return nil
	case action != PermRead && ct.def.Grant(p, PermRead).Allows(p, createdBy):
		return forbidden(action, ct.def.Name+"/"+id)
	}
	return resourceNotFound(ct.def.Name, id)
}

// opPermission is the permission an operation needs.
func opPermission(k OpKind) string {
	switch k {
	case OpCreate:
		return PermCreate
	case OpReplace, OpPatch:
		return PermUpdate
	case OpDelete, OpRestore:
		return PermDelete
	}
	return PermAdmin
}

// allowOp is the check at the entry of a write, before anything is read:
// the type must be visible to the principal, a create needs the create
// permission, and an anonymous principal needs a grant that does not
// depend on who created the resource. The rest, which does, is allowWrite's,
// in the pipeline.
func (m *Manager) allowOp(ctx context.Context, op Op) error {
	if op.Kind == OpCreate {
		_, _, err := m.allowType(ctx, op.Type, PermCreate)
		return err
	}
	p := PrincipalFrom(ctx)
	ct, err := m.authType(p, op.Type)
	if err != nil {
		return err
	}
	if !ct.def.Grant(p, opPermission(op.Kind)).All && !p.Authenticated() && !p.system {
		return errorf(ErrUnauthenticated, "this request needs credentials")
	}
	return nil
}

// allowTypeAdmin checks that ctx's principal may change or drop a type:
// an administrator, or a principal the type's own admin permission names
// for every resource.
func (m *Manager) allowTypeAdmin(ctx context.Context, name string) error {
	_, g, err := m.allowType(ctx, name, PermAdmin)
	if err != nil {
		return err
	}
	if !g.All {
		return forbidden(PermAdmin, name)
	}
	return nil
}

// RequireAdmin refuses anyone but an administrator (or System) acting in
// ctx: what manages hook modules and API keys needs.
func RequireAdmin(ctx context.Context) error { return requireAdmin(PrincipalFrom(ctx)) }

// HookModulesFor lists the registered hook modules, for administrators.
func (m *Manager) HookModulesFor(ctx context.Context) ([]HookModule, error) {
	if err := RequireAdmin(ctx); err != nil {
		return nil, err
	}
	return m.HookModules()
}

// requireAdmin refuses anyone but an administrator.
func requireAdmin(p Principal) error {
	switch {
	case p.IsAdmin():
		return nil
	case !p.Authenticated():
		return errorf(ErrUnauthenticated, "this request needs credentials")
	}
	return errorf(ErrForbidden, "only administrators may do this")
}

// canRead reports whether p may read typ/id, reading its creator in tx:
// what filters referrers and reference messages.
func (m *Manager) canRead(tx storage.Tx, p Principal, typ, id string) (bool, error) {
	if p.IsAdmin() {
		return true, nil
	}
	ct := m.typeSet()[typ]
	if ct == nil {
		return false, nil
	}
	g := ct.def.Grant(p, PermRead)
	if g.All || g.None() {
		return g.All, nil
	}
	meta, err := getMeta(tx, typ, id)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s/%s: %w", typ, id, err)
	}
	return g.Allows(p, meta.CreatedBy), nil
}

// readableTypes narrows a change-log request to the types p may read in
// full: nil means every type, an empty list none. Types readable only by
// owner are left out, since a change entry does not say who owns the
// resource.
func (m *Manager) readableTypes(p Principal, asked []string) ([]string, error) {
	if p.IsAdmin() {
		return asked, nil
	}
	readable := []string{}
	for _, t := range m.Types() {
		if t.Grant(p, PermRead).All {
			readable = append(readable, t.Name)
		}
	}
	if len(readable) == 0 && !p.Authenticated() {
		return nil, errorf(ErrUnauthenticated, "this request needs credentials")
	}
	if len(asked) == 0 {
		return readable, nil
	}
	scoped := []string{}
	for _, t := range asked {
		if slices.Contains(readable, t) {
			scoped = append(scoped, t)
		}
	}
	return scoped, nil
}

// VisibleTypes returns the types ctx's principal has some permission on,
// sorted by name; the others are not shown to it.
func (m *Manager) VisibleTypes(ctx context.Context) []Type {
	p := PrincipalFrom(ctx)
	types := m.Types()
	visible := types[:0]
	for _, t := range types {
		if t.Visible(p) {
			visible = append(visible, t)
		}
	}
	return visible
}

// TypeFor returns the named type if ctx's principal may see it; otherwise
// the same error as for a type that does not exist.
func (m *Manager) TypeFor(ctx context.Context, name string) (Type, error) {
	ct, err := m.authType(PrincipalFrom(ctx), name)
	if err != nil {
		return Type{}, err
	}
	return ct.def, nil
}

// systemFeed is the Manager as the search index reads it: with System's
// authority, since the index serves every principal and core filters what
// each one gets.
type systemFeed struct{ *Manager }

// Feed returns the Manager's change feed read as System, for an index
// built over it.
func (m *Manager) Feed() ChangeFeed { return systemFeed{m} }

func (f systemFeed) Changes(ctx context.Context, since uint64, types []string, limit int) (*ChangePage, error) {
	return f.Manager.Changes(AsSystem(ctx), since, types, limit)
}

func (f systemFeed) List(ctx context.Context, typ string, o ListOptions) (*Page, error) {
	return f.Manager.List(AsSystem(ctx), typ, o)
}

func (f systemFeed) GetMany(ctx context.Context, typ string, ids []string, o GetOptions) ([]*Resource, error) {
	return f.Manager.GetMany(AsSystem(ctx), typ, ids, o)
}

// authorized authorizes one operation for ctx's principal and performs it.
func (m *Manager) authorized(ctx context.Context, op Op, o WriteOptions) (*Resource, error) {
	if err := m.allowOp(ctx, op); err != nil {
		return nil, err
	}
	o.by = PrincipalFrom(ctx)
	res, err := m.one(ctx, op, o)
	return m.redactOne(ctx, res, err)
}

// redactResults redacts the results of a batch for ctx's principal.
func (m *Manager) redactResults(ctx context.Context, results []*Resource) ([]*Resource, error) {
	for i, res := range results {
		var err error
		if results[i], err = m.redactOne(ctx, res, nil); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// errIDTaken is the answer to a create whose id exists, word for word the
// same whatever the resource is.
func errIDTaken() error {
	return fieldError(ErrConflict, "id is taken", FieldError{Path: "/id", Message: "is taken", Source: "unique"})
}

// shownName is how a message of a write names typ/id to the writer: by
// name if it may read it, else without type or id.
func (w *writer) shownName(typ, id string) (name string, readable bool, err error) {
	ok, err := w.m.canRead(w.tx, w.by, typ, id)
	if err != nil || !ok {
		return "a resource you cannot read", false, err
	}
	return typ + "/" + id, true, nil
}

// Hidden fields (Type.Hidden) are readable by administrators only: every
// resource core hands out passes through redact, and searches refuse to
// filter, sort or match on them for anyone else.

// hiddenFor returns the fields of ct that p may not read; nil when p may
// read them all.
func hiddenFor(p Principal, ct *compiledType) []string {
	if len(ct.def.Hidden) == 0 || p.IsAdmin() {
		return nil
	}
	return ct.def.Hidden
}

// stripHidden deletes the hidden fields from obj, reporting whether it
// held any.
func stripHidden(obj map[string]any, hidden []string) bool {
	changed := false
	for _, f := range hidden {
		if _, ok := obj[f]; ok {
			delete(obj, f)
			changed = true
		}
	}
	return changed
}

// redact returns res without the fields hidden from p; res itself when it
// holds none.
func redact(hidden []string, res *Resource) (*Resource, error) {
	if len(hidden) == 0 || res == nil {
		return res, nil
	}
	obj, err := decodeStoredObject(res.Data)
	if err != nil {
		return nil, fmt.Errorf("decode %s/%s: %w", res.Type, res.ID, err)
	}
	stripHidden(obj, hidden)
	raw, err := canonicalJSON(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s/%s: %w", res.Type, res.ID, err)
	}
	out := *res
	out.Data = raw
	// The hash covers the hidden fields: a guess at a low-entropy hidden
	// value could be checked against it.
	out.Revision.DataHash = ""
	return &out, nil
}

// redactAll redacts items of type typ in place for ctx's principal.
func (m *Manager) redactAll(ctx context.Context, typ string, items []*Resource) error {
	ct, err := m.lookupType(typ)
	if err != nil {
		return err
	}
	hidden := hiddenFor(PrincipalFrom(ctx), ct)
	if hidden == nil {
		return nil
	}
	for i, res := range items {
		if items[i], err = redact(hidden, res); err != nil {
			return err
		}
	}
	return nil
}

// redactOne is redactAll for a single resource.
func (m *Manager) redactOne(ctx context.Context, res *Resource, err error) (*Resource, error) {
	if err != nil || res == nil {
		return res, err
	}
	items := []*Resource{res}
	if err := m.redactAll(ctx, res.Type, items); err != nil {
		return nil, err
	}
	return items[0], nil
}

// searchHidden checks a search against the fields hidden from ctx's
// principal: a full-text query over a type whose search fields include a
// hidden one is refused (it would match on the hidden text); filter and
// sort treat hidden fields as unknown (SearchRequest.Hidden).
func searchHidden(ctx context.Context, ct *compiledType, q string) ([]string, error) {
	hidden := hiddenFor(PrincipalFrom(ctx), ct)
	if hidden == nil {
		return nil, nil
	}
	if strings.TrimSpace(q) != "" {
		for _, f := range ct.def.Search {
			if slices.Contains(hidden, f) {
				return nil, errorf(ErrInvalid, "q: type %s has no search fields you may search", ct.def.Name)
			}
		}
	}
	return hidden, nil
}
