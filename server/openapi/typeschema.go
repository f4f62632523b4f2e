package openapi

import (
	"fmt"
	"net/url"
	"strings"
)

// draft2020 is the JSON Schema dialect of OpenAPI 3.1 and of Strata types.
const draft2020 = "https://json-schema.org/draft/2020-12/schema"

// typeSchema is a type's JSON Schema taken apart for the document: the
// data schema and the subschemas hoisted out of its $defs, each of which
// becomes a component schema of its own.
//
// The $defs are hoisted because code generators treat a schema's members
// as they find them: openapi-typescript turns a $defs left inside
// components.schemas.<type> into a required property "$defs" of the type,
// so that no object a client builds has the type.
type typeSchema struct {
	name string // the type
	root any    // the data schema, without its $defs; its refs are rebased by embed
	base string // the root's former $id, "" if none
	defs []*hoistedDef
}

// hoistedDef is a subschema of a type's $defs (or definitions) that
// becomes components.schemas.<name>.
type hoistedDef struct {
	keyword string   // "$defs" or "definitions"
	keys    []string // its keys, from the root: ["node"], or ["node", "label"] for a $defs in a $defs
	pointer string   // its JSON Pointer in the type's schema: /$defs/node/$defs/label
	schema  any      // without its own hoisted $defs
	name    string   // its component name, set by nameDefs
}

// decodeTypeSchema decodes a type's JSON Schema and takes it apart.
//
// A 2020-12 schema (the default) becomes part of the document: its
// top-level $schema and $id go, and the members of its top-level $defs
// (and of the $defs at the top of each of those, and so on; also the older
// definitions) are hoisted out as component schemas of their own. Embed
// then rebases every $ref or $dynamicRef into the schema ("#/$defs/x", or
// "<$id>#/$defs/x"), so it resolves from inside the OpenAPI document.
// Subschemas with an $id of their own are separate schema resources and
// are left as they are, their $defs included. A schema declaring another
// dialect keeps its $schema, its $defs and its own references, and gets an
// $id (urn:strata:type:<name>) when it has none, which makes it an
// embedded schema resource.
func decodeTypeSchema(name string, raw []byte) (*typeSchema, error) {
	doc, err := decodeOrdered(raw)
	if err != nil {
		return nil, fmt.Errorf("openapi: schema of type %s: %w", name, err)
	}
	ts := &typeSchema{name: name}
	switch root := doc.(type) {
	case bool:
		ts.root = root
		return ts, nil
	case object:
		dialect, _ := root.get("$schema")
		if d, ok := dialect.(string); ok && strings.TrimSuffix(d, "#") != draft2020 {
			if _, ok := root.get("$id"); !ok {
				root = append(object{{"$id", "urn:strata:type:" + name}}, root...)
			}
			ts.root = root
			return ts, nil
		}
		id, _ := root.get("$id")
		ts.base, _ = id.(string)
		ts.root = ts.hoist(root.without("$schema").without("$id"), nil, "")
		return ts, nil
	}
	return nil, fmt.Errorf("openapi: schema of type %s is not an object or a boolean", name)
}

// hoist moves the $defs and definitions at the top of s, recursively, into
// ts.defs and returns s without them. keys and pointer locate s in the
// type's schema.
func (ts *typeSchema) hoist(s object, keys []string, pointer string) object {
	out := s
	for _, kw := range []string{"$defs", "definitions"} {
		v, ok := out.get(kw)
		defs, isObject := v.(object)
		if !ok || !isObject {
			continue // not a schema map: left for the validator to judge
		}
		out = out.without(kw)
		for _, d := range defs {
			h := &hoistedDef{
				keyword: kw,
				keys:    append(append([]string(nil), keys...), d.key),
				pointer: pointer + "/" + kw + "/" + escapeToken(d.key),
				schema:  d.value,
			}
			ts.defs = append(ts.defs, h)
			if sub, ok := d.value.(object); ok {
				if _, ok := sub.get("$id"); !ok { // a resource keeps its $defs
					h.schema = ts.hoist(sub, h.keys, h.pointer)
				}
			}
		}
	}
	return out
}

// escapeToken escapes a key as a JSON Pointer reference token.
func escapeToken(key string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}

// nameDefs names the hoisted schemas of ts. Each gets <type>_<key> (a
// $defs in a $defs: <type>_<key>_<key>) if that is a valid component name
// that taken does not hold; otherwise <type>.defs.<key> (.definitions.
// for definitions) with each byte of the key outside [A-Za-z0-9_] written
// as -XX in hex, which no type name and no other component can produce.
// The names given are added to taken.
func (ts *typeSchema) nameDefs(taken map[string]bool) {
	for _, d := range ts.defs {
		name := ts.name + "_" + strings.Join(d.keys, "_")
		if taken[name] || !plainName(strings.Join(d.keys, "")) {
			var b strings.Builder
			b.WriteString(ts.name)
			for _, k := range d.keys {
				b.WriteString(".")
				b.WriteString(strings.TrimPrefix(d.keyword, "$"))
				b.WriteString(".")
				for i := 0; i < len(k); i++ {
					if c := k[i]; plainByte(c) {
						b.WriteByte(c)
					} else {
						fmt.Fprintf(&b, "-%02X", c)
					}
				}
			}
			name = b.String()
		}
		d.name = name
		taken[name] = true
	}
}

func plainByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// plainName reports whether s is non-empty and all plainByte.
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainByte(s[i]) {
			return false
		}
	}
	return s != ""
}

// embed returns the component schemas of ts, named: the data schema as
// name, then the hoisted ones. Every local reference is rebased to the
// component that now holds its target.
func (ts *typeSchema) embed(name string) []member {
	target := func(frag string) string {
		dec := frag
		if u, err := url.PathUnescape(frag); err == nil {
			dec = u
		}
		var best *hoistedDef
		for _, d := range ts.defs {
			if (dec == d.pointer || strings.HasPrefix(dec, d.pointer+"/")) && (best == nil || len(d.pointer) > len(best.pointer)) {
				best = d
			}
		}
		if best == nil {
			return "#/components/schemas/" + name + frag
		}
		return "#" + (&url.URL{Fragment: "/components/schemas/" + best.name + dec[len(best.pointer):]}).EscapedFragment()
	}
	out := []member{{name, rebase(ts.root, ts.base, target)}}
	for _, d := range ts.defs {
		out = append(out, member{d.name, rebase(d.schema, ts.base, target)})
	}
	return out
}

// inputSchema returns the schema of a create or replace body of the type
// whose data schema is the component data: the data plus an optional
// top-level id, which names the resource and is taken out of the data
// before it is validated. It is the data schema with id added to its
// properties, so that a type whose schema has additionalProperties (or
// unevaluatedProperties) false still accepts an id in a body, as the
// server does.
func (ts *typeSchema) inputSchema(data string, embedded any) any {
	id := obj(
		"type", "string",
		"pattern", idPattern,
		"description", "Names the new resource (a UUIDv7 is assigned without it); in a replace it must be the resource's id. "+
			"It is not stored in the data. count, export and import are refused.",
	)
	switch root := embedded.(type) {
	case bool:
		if !root {
			return false
		}
		return obj("type", "object", "properties", obj("id", id))
	case object:
		out := append(object{}, root...)
		props, _ := out.get("properties")
		p, _ := props.(object)
		p = append(object{{"id", id}}, p.without("id")...)
		out.set("properties", p)
		if _, ok := out.get("$id"); ok {
			// Another dialect's schema is a resource of its own: the copy
			// needs an $id of its own, and keeps its references local.
			out.set("$id", "urn:strata:input:"+ts.name)
		}
		if _, ok := out.get("description"); !ok {
			out.set("description", "The data of a "+ts.name+" resource, with an optional id naming it (see "+data+").")
		}
		return out
	}
	return embedded
}

// idPattern is what a client-supplied resource id matches.
const idPattern = "^[A-Za-z0-9_-]{1,128}$"

// Shapes of the keywords that hold subschemas.
const (
	notSchema  = iota
	oneSchema  // a schema
	schemaList // a schema or an array of schemas
	schemaMap  // an object whose member values are schemas
)

// keywordShape says whether, and how, keyword k holds subschemas.
func keywordShape(k string) int {
	switch k {
	case "additionalItems", "additionalProperties", "contains", "contentSchema",
		"else", "if", "not", "propertyNames", "then",
		"unevaluatedItems", "unevaluatedProperties":
		return oneSchema
	case "allOf", "anyOf", "items", "oneOf", "prefixItems":
		return schemaList
	case "$defs", "definitions", "dependencies", "dependentSchemas", "patternProperties", "properties":
		return schemaMap
	}
	return notSchema
}

// rebase returns a copy of the schema s whose local references are
// rewritten by target. base is the schema's former $id ("" if none). Only
// keywords that hold schemas are walked: a "$ref" member inside const,
// enum, default or examples is data and stays untouched.
func rebase(s any, base string, target func(frag string) string) any {
	o, ok := s.(object)
	if !ok {
		return s
	}
	if _, ok := o.get("$id"); ok {
		return o // an embedded resource: its references are its own
	}
	out := make(object, len(o))
	copy(out, o)
	for i, m := range out {
		switch {
		case m.key == "$ref" || m.key == "$dynamicRef":
			if ref, ok := m.value.(string); ok {
				out[i].value = rebaseRef(ref, base, target)
			}
		case keywordShape(m.key) == oneSchema:
			out[i].value = rebase(m.value, base, target)
		case keywordShape(m.key) == schemaList:
			if list, ok := m.value.([]any); ok {
				next := make([]any, len(list))
				for j, sub := range list {
					next[j] = rebase(sub, base, target)
				}
				out[i].value = next
			} else {
				out[i].value = rebase(m.value, base, target)
			}
		case keywordShape(m.key) == schemaMap:
			if subs, ok := m.value.(object); ok {
				next := make(object, len(subs))
				for j, sub := range subs {
					next[j] = member{sub.key, rebase(sub.value, base, target)}
				}
				out[i].value = next
			}
		}
	}
	return out
}

// rebaseRef rewrites a reference into the schema itself: "#" and "#/..."
// (and the same after the schema's own $id) become target(pointer).
// Anchors ("#name") and other URLs are returned unchanged.
func rebaseRef(ref, base string, target func(frag string) string) string {
	frag, local := strings.CutPrefix(ref, "#")
	if !local && base != "" {
		frag, local = strings.CutPrefix(ref, base+"#")
		if !local && ref == base {
			frag, local = "", true
		}
	}
	if !local || (frag != "" && !strings.HasPrefix(frag, "/")) {
		return ref
	}
	return target(frag)
}
