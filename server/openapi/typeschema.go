package openapi

import (
	"fmt"
	"strings"
)

// draft2020 is the JSON Schema dialect of OpenAPI 3.1 and of Strata types.
const draft2020 = "https://json-schema.org/draft/2020-12/schema"

// embedSchema turns a type's JSON Schema into the component schema at
// #/components/schemas/<name>.
//
// A 2020-12 schema (the default) becomes part of the document: its
// top-level $schema and $id go, and every $ref or $dynamicRef into the
// schema itself ("#/$defs/x", or "<$id>#/$defs/x") is rebased under the
// component, so it still resolves from inside the OpenAPI document.
// Subschemas with an $id of their own are separate schema resources and
// are left as they are. A schema declaring another dialect keeps its
// $schema and gets an $id (urn:strata:type:<name>) when it has none, which
// makes it an embedded schema resource whose own references stay local.
func embedSchema(name string, raw []byte) (any, error) {
	doc, err := decodeOrdered(raw)
	if err != nil {
		return nil, fmt.Errorf("openapi: schema of type %s: %w", name, err)
	}
	switch root := doc.(type) {
	case bool:
		return root, nil
	case object:
		dialect, _ := root.get("$schema")
		if d, ok := dialect.(string); ok && strings.TrimSuffix(d, "#") != draft2020 {
			if _, ok := root.get("$id"); !ok {
				root = append(object{{"$id", "urn:strata:type:" + name}}, root...)
			}
			return root, nil
		}
		id, _ := root.get("$id")
		base, _ := id.(string)
		root = root.without("$schema").without("$id")
		return rebase(root, base, "#/components/schemas/"+name), nil
	}
	return nil, fmt.Errorf("openapi: schema of type %s is not an object or a boolean", name)
}

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

// rebase returns a copy of the schema s whose local references point under
// to. base is the schema's former $id ("" if none). Only keywords that
// hold schemas are walked: a "$ref" member inside const, enum, default or
// examples is data and stays untouched.
func rebase(s any, base, to string) any {
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
				out[i].value = rebaseRef(ref, base, to)
			}
		case keywordShape(m.key) == oneSchema:
			out[i].value = rebase(m.value, base, to)
		case keywordShape(m.key) == schemaList:
			if list, ok := m.value.([]any); ok {
				next := make([]any, len(list))
				for j, sub := range list {
					next[j] = rebase(sub, base, to)
				}
				out[i].value = next
			} else {
				out[i].value = rebase(m.value, base, to)
			}
		case keywordShape(m.key) == schemaMap:
			if subs, ok := m.value.(object); ok {
				next := make(object, len(subs))
				for j, sub := range subs {
					next[j] = member{sub.key, rebase(sub.value, base, to)}
				}
				out[i].value = next
			}
		}
	}
	return out
}

// rebaseRef rewrites a reference into the schema itself: "#" and "#/..."
// (and the same after the schema's own $id) become to + the pointer.
// Anchors ("#name") and other URLs are returned unchanged.
func rebaseRef(ref, base, to string) string {
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
	return to + frag
}
