package openapi

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/strata-dev/strata/core"
)

// Version is the OpenAPI version of the documents Document writes.
const Version = "3.1.0"

// Info describes the API in the info and servers sections of a document.
// The zero value is usable.
type Info struct {
	// Title names the API; "" means "Strata".
	Title string
	// Version is the version of the API (not of OpenAPI); "" means "dev".
	Version string
	// ServerURL is listed as the document's only server, e.g.
	// "https://api.example.com", or "/v1" for a server mounted under /v1 of
	// the host the document is fetched from. "" means "/": the paths are
	// resolved against that host. (OpenAPI gives a document without servers
	// the same meaning, but linters such as Redocly's refuse one.)
	ServerURL string
	// License names the terms under which the API is offered, with either
	// LicenseIdentifier, an SPDX expression ("Apache-2.0"), or LicenseURL,
	// a link to their text. Linters expect a document to name its license
	// with one of the two; Strata cannot know a deployment's terms, so when
	// all three are "" the license is "Unspecified", identified as
	// LicenseRef-Unspecified: SPDX's form for terms stated elsewhere.
	License, LicenseIdentifier, LicenseURL string
}

// shadowed reports whether name is taken under /api by one of Strata's own
// routes. Such a type is unreachable over REST, so Document lists its
// schemas but no paths for it.
func shadowed(name string) bool {
	switch name {
	case "batch", "blobs", "changes", "events", "hooks", "keys", "types":
		return true
	}
	return false
}

// Document returns an OpenAPI 3.1 document, as indented JSON, describing the
// REST API that serves types: a component schema per type (its JSON Schema,
// as declared, with its $defs hoisted beside it), its input, envelope and
// list schemas, the routes of each type, and Strata's global routes
// (/api/types, /api/changes, /api/batch, /api/keys, /api/hooks,
// /openapi.json, /docs, /healthz, /readyz). Shared components that no
// route uses are left out.
//
// The output depends only on its arguments: types are sorted by name and
// every object has a fixed member order, so equal inputs give equal bytes.
// types is not modified. Document is safe for concurrent use; it costs about
// a quarter of a millisecond per type, so a server should cache the result
// until the types change.
//
// Component and operation names follow the type name: posts gets the
// schemas posts, posts_input, posts_resource and posts_list, posts_<def>
// for each of its $defs, and the operations createPosts, listPosts,
// getPosts and so on (blog_posts becomes BlogPosts). When two names would
// collide (a type posts_list next to a type posts, or a type types next to
// the global listTypes), the derived name yields: the envelope becomes
// posts.resource, a $defs member posts.defs.<def>, the operation
// list_types, which no type name can produce.
//
// Document fails if a type has an invalid or repeated name or a schema that
// is not a JSON object or boolean.
func Document(types []core.Type, info Info) ([]byte, error) {
	sorted := slices.Clone(types)
	slices.SortFunc(sorted, func(a, b core.Type) int { return strings.Compare(a.Name, b.Name) })
	for i, t := range sorted {
		if !core.ValidTypeName(t.Name) {
			return nil, fmt.Errorf("openapi: invalid type name %q", t.Name)
		}
		if i > 0 && sorted[i-1].Name == t.Name {
			return nil, fmt.Errorf("openapi: type %s is listed twice", t.Name)
		}
	}

	names := nameTypes(sorted)
	schemas := sharedSchemas()
	// Every name so far is taken; the hoisted $defs get the others.
	taken := map[string]bool{}
	for _, m := range schemas {
		taken[m.key] = true
	}
	for _, n := range names {
		taken[n.schema], taken[n.resource], taken[n.list], taken[n.input] = true, true, true, true
	}
	typeSchemas := make([]*typeSchema, len(sorted))
	for i, t := range sorted {
		ts, err := decodeTypeSchema(t.Name, t.Schema)
		if err != nil {
			return nil, err
		}
		ts.nameDefs(taken)
		typeSchemas[i] = ts
	}

	paths := object{}
	var tags []any
	for i, t := range sorted {
		n := names[t.Name]
		embedded := typeSchemas[i].embed(n.schema)
		// nameTypes made these names distinct from each other and from
		// the shared ones, and nameDefs from those.
		schemas = append(schemas, embedded...)
		schemas = append(schemas,
			member{n.input, typeSchemas[i].inputSchema(n.schema, embedded[0].value)},
			member{n.resource, resourceSchema(n)},
			member{n.list, listSchema(n)})
		if shadowed(t.Name) {
			continue
		}
		tags = append(tags, obj("name", t.Name, "description", typeTagDescription(t)))
		paths = append(paths, typePaths(n)...)
	}
	paths = append(paths, globalPaths()...)
	slices.SortFunc(schemas, func(a, b member) int { return strings.Compare(a.key, b.key) })

	if info.Title == "" {
		info.Title = "Strata"
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	// The shared components that no path refers to, even through other
	// components, are left out (with no types, most of them): linters
	// flag unused components. A type's own are kept.
	kept := map[string]bool{}
	for _, n := range names {
		kept[n.schema], kept[n.resource], kept[n.list], kept[n.input] = true, true, true, true
	}
	for _, ts := range typeSchemas {
		for _, d := range ts.defs {
			kept[d.name] = true
		}
	}
	unused := unusedComponents(paths, obj(
		"schemas", schemas,
		"parameters", sharedParameters(),
		"headers", sharedHeaders(),
		"responses", sharedResponses(),
	), kept)

	if info.ServerURL == "" {
		info.ServerURL = "/"
	}
	switch {
	case info.LicenseIdentifier != "" && info.LicenseURL != "":
		return nil, fmt.Errorf("openapi: a license has an identifier or a URL, not both")
	case info.License == "" && info.LicenseIdentifier == "" && info.LicenseURL == "":
		info.License, info.LicenseIdentifier = "Unspecified", "LicenseRef-Unspecified"
	case info.License == "":
		info.License = info.LicenseIdentifier
	}
	doc := obj(
		"openapi", Version,
		"info", obj(
			"title", info.Title,
			"version", info.Version,
			"description", apiDescription,
			"license", obj("name", info.License, "identifier", optional(info.LicenseIdentifier), "url", optional(info.LicenseURL)),
		),
		"servers", []any{obj("url", info.ServerURL)},
		"security", []any{object{}, obj("bearer", []any{})},
		"tags", append(tags, globalTags()...),
		"paths", paths,
		"components", obj(
			"schemas", unused.prune("schemas", schemas),
			"parameters", unused.prune("parameters", sharedParameters()),
			"headers", unused.prune("headers", sharedHeaders()),
			"responses", unused.prune("responses", sharedResponses()),
			"securitySchemes", obj(
				"bearer", obj(
					"type", "http",
					"scheme", "bearer",
					"description", "An API key or a JWT, as `Authorization: Bearer <token>`.",
				),
			),
		),
	)

	out, err := encodeIndented(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: encode document: %w", err)
	}
	return out, nil
}

const apiDescription = "Resources of each type are JSON documents validated by the type's JSON Schema. " +
	"Every write makes an immutable revision; single-resource responses carry an `ETag` of the form " +
	"`\"<id>:<revision>\"`, which writes accept in `If-Match`. " +
	"Errors are `application/problem+json` (RFC 9457) with a `type` of `urn:strata:problem:<code>`."

// typeNames are the names one type gives to components and operations.
type typeNames struct {
	name     string // the type name, also its tag and its data schema
	schema   string
	resource string // the envelope schema
	list     string // the list schema
	input    string // the schema of a create or replace body
	ops      map[string]string
	// expand names, by reference field in order, the envelope schema of
	// the type it points at: the members of the envelope's expand.
	expand [][2]string
}

// nameTypes names the components and operations of sorted, valid types,
// resolving collisions as Document describes.
func nameTypes(types []core.Type) map[string]*typeNames {
	taken := map[string]bool{}
	for _, t := range types {
		taken[t.Name] = true
	}
	opCount := map[string]int{}
	for _, op := range globalOperationIDs() {
		opCount[op]++
	}
	for _, t := range types {
		for _, op := range typeOperations() {
			opCount[op.id(t.Name)]++
		}
	}

	names := make(map[string]*typeNames, len(types))
	for _, t := range types {
		n := &typeNames{
			name:     t.Name,
			schema:   t.Name,
			resource: t.Name + "_resource",
			list:     t.Name + "_list",
			input:    t.Name + "_input",
			ops:      map[string]string{},
		}
		if taken[n.input] {
			n.input = t.Name + ".input"
		}
		if taken[n.resource] {
			n.resource = t.Name + ".resource"
		}
		if taken[n.list] {
			n.list = t.Name + ".list"
		}
		for _, op := range typeOperations() {
			id := op.id(t.Name)
			if opCount[id] > 1 {
				id = op.word() + "_" + t.Name
			}
			n.ops[op.word()] = id
		}
		names[t.Name] = n
	}
	for _, t := range types {
		for _, f := range slices.Sorted(maps.Keys(t.References)) {
			if target := names[t.References[f].Type]; target != nil {
				names[t.Name].expand = append(names[t.Name].expand, [2]string{f, target.resource})
			}
		}
	}
	return names
}

// typeOperation names one operation on a type: verb + type + suffix, as in
// list + Posts + Revisions.
type typeOperation struct{ verb, suffix string }

// typeOperations returns the operations every type has.
func typeOperations() []typeOperation {
	return []typeOperation{
		{"create", ""}, {"list", ""}, {"count", ""}, {"get", ""}, {"replace", ""},
		{"patch", ""}, {"delete", ""}, {"restore", ""}, {"list", "Revisions"},
		{"get", "Revision"}, {"switch", "Revision"}, {"diff", ""}, {"list", "Referrers"},
		{"export", ""}, {"import", ""},
	}
}

// globalOperationIDs returns the operationIds of the global routes.
func globalOperationIDs() []string {
	return []string{
		"listTypes", "createType", "getType", "replaceType", "deleteType",
		"listChanges", "batch", "listKeys", "createKey", "revokeKey",
		"listHooks", "getHook", "registerHook", "deleteHook", "openapi", "docs", "docsAsset", "healthz", "readyz",
		"uploadBlob", "getBlob", "metrics",
	}
}

// word is the operation's name without the type, e.g. listRevisions.
func (op typeOperation) word() string { return op.verb + op.suffix }

// id is the operation's preferred operationId for type name.
func (op typeOperation) id(name string) string { return op.verb + camel(name) + op.suffix }

// camel turns a type name into an identifier part: the first letter and
// every letter after an underscore are upper-cased and those underscores
// dropped (blog_posts: BlogPosts); other underscores stay (v_1: V_1). The
// mapping is one-to-one, and its result never holds an underscore followed
// by a lower-case letter.
func camel(name string) string {
	var b strings.Builder
	up := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_' && i+1 < len(name) && 'a' <= name[i+1] && name[i+1] <= 'z':
			up = true
		case up && 'a' <= c && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
			up = false
		default:
			b.WriteByte(c)
			up = false
		}
	}
	return b.String()
}

func typeTagDescription(t core.Type) string {
	var parts []string
	parts = append(parts, "Resources of type `"+t.Name+"`.")
	if len(t.Search) > 0 {
		parts = append(parts, "Full-text search (`q`) covers "+codeList(t.Search)+".")
	}
	if len(t.Unique) > 0 {
		parts = append(parts, "Unique: "+codeList(t.Unique)+".")
	}
	if len(t.References) > 0 {
		fields := make([]string, 0, len(t.References))
		for f := range t.References {
			fields = append(fields, f)
		}
		slices.Sort(fields)
		refs := make([]string, len(fields))
		for i, f := range fields {
			r := t.References[f]
			onDelete := r.OnDelete
			if onDelete == "" {
				onDelete = core.OnDeleteRestrict
			}
			refs[i] = fmt.Sprintf("`%s` → `%s` (on delete: %s)", f, r.Type, onDelete)
		}
		parts = append(parts, "References: "+strings.Join(refs, ", ")+".")
	}
	return strings.Join(parts, " ")
}

func codeList(fields []string) string {
	quoted := make([]string, len(fields))
	for i, f := range fields {
		quoted[i] = "`" + f + "`"
	}
	return strings.Join(quoted, ", ")
}

// unused is a set of component references, "#/components/<kind>/<name>".
type unused map[string]bool

// unusedComponents returns the components (kind, then name, then the
// component) that neither paths nor a kept schema refers to, directly or
// through other components.
func unusedComponents(paths, components object, kept map[string]bool) unused {
	all := map[string]any{}
	for _, kind := range components {
		for _, c := range kind.value.(object) {
			all["#/components/"+kind.key+"/"+c.key] = c.value
		}
	}
	used := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case object:
			for _, m := range v {
				if ref, ok := m.value.(string); ok && m.key == "$ref" {
					name := componentOf(ref)
					if c, ok := all[name]; ok && !used[name] {
						used[name] = true
						walk(c)
					}
					continue
				}
				walk(m.value)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(paths)
	for name := range kept {
		ref := "#/components/schemas/" + name
		if !used[ref] {
			used[ref] = true
			walk(all[ref])
		}
	}
	out := unused{}
	for name := range all {
		if !used[name] {
			out[name] = true
		}
	}
	return out
}

// componentOf returns the component a local reference points into:
// "#/components/schemas/posts/properties/x" is in
// "#/components/schemas/posts".
func componentOf(ref string) string {
	parts := strings.SplitN(ref, "/", 5)
	if len(parts) < 4 || parts[0] != "#" || parts[1] != "components" {
		return ref
	}
	return strings.Join(parts[:4], "/")
}

// prune returns the components of kind that u does not hold, or nil if
// none is left.
func (u unused) prune(kind string, components object) object {
	var out object
	for _, c := range components {
		if !u["#/components/"+kind+"/"+c.key] {
			out = append(out, c)
		}
	}
	return out
}
