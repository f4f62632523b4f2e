package core

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/strata-dev/strata/sdk/storage"
)

// Expansion (SPEC §3, expand=author,author.org) embeds the resources a
// page's reference fields point at in each item's Resource.Expand, and
// those the embedded ones point at in theirs, down to MaxExpandDepth.
//
// Each level of each path costs one storage transaction for the whole
// page, whatever its size: the ids of all the items are gathered, each
// read once. A target is embedded only if the reader could GET it: its
// type grants the reader read (an owner-only grant, the reader's own
// resources), it is not soft-deleted, and fields hidden from the reader
// are redacted. Any other target is left out, exactly as a reference
// that is null or whose target was purged, so expansion tells nothing a
// direct read would not.

// Expansion limits.
const (
	// MaxExpandPaths bounds the paths of one expand option.
	MaxExpandPaths = 10
	// MaxExpandDepth bounds the reference fields of one path (a.b.c).
	MaxExpandDepth = 3
)

// expandNode is one reference field to expand, with the fields to expand
// in what it points at.
type expandNode struct {
	field string
	// target is the type the field points at; empty when the reader may
	// not see that type, so nothing is embedded.
	target   string
	children []*expandNode
}

// planExpand checks expand paths of type typ against its reference fields
// as ctx's principal may see them, and merges them into a tree. A path
// that is empty, has an empty segment, is deeper than MaxExpandDepth, or
// names a field that is not a reference (or is hidden from the principal)
// is ErrInvalid naming it. Below a type the principal may not see, fields
// are not checked: nothing is embedded there, and a 400 would tell the
// type's fields.
func (m *Manager) planExpand(ctx context.Context, typ string, paths []string) ([]*expandNode, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	if len(paths) > MaxExpandPaths {
		return nil, errorf(ErrInvalid, "expand: at most %d paths, not %d", MaxExpandPaths, len(paths))
	}
	p := PrincipalFrom(ctx)
	root, err := m.authType(p, typ)
	if err != nil {
		return nil, err
	}
	var plan []*expandNode
	for _, path := range paths {
		segs := strings.Split(path, ".")
		if len(segs) > MaxExpandDepth {
			return nil, errorf(ErrInvalid, "expand: %q is deeper than %d reference fields", path, MaxExpandDepth)
		}
		ct, level := root, &plan
		for i, f := range segs {
			if f == "" {
				return nil, errorf(ErrInvalid, "expand: %q has an empty field name", path)
			}
			node := findNode(*level, f)
			if node == nil {
				node = &expandNode{field: f}
				if ct != nil {
					ref, ok := ct.def.References[f]
					if !ok || slices.Contains(hiddenFor(p, ct), f) {
						return nil, errorf(ErrInvalid, "expand: %q: %s has no reference field %q", path, ct.def.Name, f)
					}
					if target, err := m.authType(p, ref.Type); err == nil {
						node.target = target.def.Name
					}
				}
				*level = append(*level, node)
			}
			if i < len(segs)-1 {
				ct = nil
				if node.target != "" {
					ct = m.typeSet()[node.target]
				}
				level = &node.children
			}
		}
	}
	return plan, nil
}

func findNode(nodes []*expandNode, field string) *expandNode {
	for _, n := range nodes {
		if n.field == field {
			return n
		}
	}
	return nil
}

// expand embeds the targets of plan in items (nil entries are skipped),
// as ctx's principal may read them: one storage transaction per node of
// the plan.
func (m *Manager) expand(ctx context.Context, plan []*expandNode, items []*Resource) error {
	for _, node := range plan {
		if node.target == "" {
			continue
		}
		refs := make([]string, len(items)) // the id each item holds
		ids := make([]string, 0, len(items))
		for i, res := range items {
			if refs[i] = refID(res, node.field); refs[i] != "" {
				ids = append(ids, refs[i])
			}
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
		if len(ids) == 0 {
			continue
		}
		targets, err := m.readTargets(ctx, node.target, ids)
		if err != nil {
			return err
		}
		if len(targets) == 0 {
			continue
		}
		for i, res := range items {
			if t := targets[refs[i]]; t != nil {
				if res.Expand == nil {
					res.Expand = make(map[string]*Resource, len(plan))
				}
				res.Expand[node.field] = t
			}
		}
		if len(node.children) > 0 {
			next := make([]*Resource, 0, len(targets))
			for _, id := range ids {
				if t := targets[id]; t != nil {
					next = append(next, t)
				}
			}
			if err := m.expand(ctx, node.children, next); err != nil {
				return err
			}
		}
	}
	return nil
}

// refID returns the id the reference field holds in res's data, or "".
// The data may be of an old revision, written when the field was not a
// reference: only a string that is an id counts.
func refID(res *Resource, field string) string {
	if res == nil {
		return ""
	}
	v := gjson.GetBytes(res.Data, field)
	if v.Type != gjson.String || !validID(v.Str) {
		return ""
	}
	return v.Str
}

// readTargets reads the current state of the resources ids (sorted,
// distinct) of type typ in one transaction, those ctx's principal may
// read only, redacted for it.
func (m *Manager) readTargets(ctx context.Context, typ string, ids []string) (map[string]*Resource, error) {
	p := PrincipalFrom(ctx)
	ct := m.typeSet()[typ]
	if ct == nil {
		return nil, nil // dropped since the plan was made
	}
	g := ct.def.Grant(p, PermRead)
	if g.None() {
		return nil, nil
	}
	hidden := hiddenFor(p, ct)
	out := make(map[string]*Resource, len(ids))
	err := m.store.View(ctx, func(tx storage.Tx) error {
		arena := make([]byte, 0, len(ids)*1536)
		r := reader{tx: tx, arena: &arena, hints: m.revHints}
		metas, revs, err := r.currents(ct, ids, false)
		if err != nil {
			return fmt.Errorf("expand %s: %w", typ, err)
		}
		for i, id := range ids {
			meta := metas[i]
			if meta == nil || meta.Deleted || !g.Allows(p, meta.CreatedBy) {
				continue
			}
			if revs[i] == nil {
				return fmt.Errorf("expand %s/%s: %w", typ, id, errorf(ErrNotFound, "%s/%s has no revision %d", typ, id, meta.CurrentRevision))
			}
			out[id] = newResource(typ, id, meta, revs[i])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for id, res := range out {
		if out[id], err = redact(hidden, res); err != nil {
			return nil, err
		}
	}
	return out, nil
}
