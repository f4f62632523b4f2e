package openapi

import (
	"fmt"
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
	// ServerURL, when not "", is listed as the document's only server, e.g.
	// "https://api.example.com". When "", clients resolve paths against the
	// URL the document was fetched from.
	ServerURL string
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
// as declared), its envelope and list schemas, the routes of each type, and
// Strata's global routes (/api/types, /api/changes, /api/batch, /healthz,
// /readyz).
//
// The output depends only on its arguments: types are sorted by name and
// every object has a fixed member order, so equal inputs give equal bytes.
// types is not modified. Document is safe for concurrent use; it costs about
// a quarter of a millisecond per type, so a server should cache the result
// until the types change.
//
// Component and operation names follow the type name: posts gets the
// schemas posts, posts_resource and posts_list and the operations
// createPosts, listPosts, getPosts and so on (blog_posts becomes
// BlogPosts). When two names would collide (a type posts_list next to a
// type posts, or a type types next to the global listTypes), the derived
// name yields: the envelope becomes posts.resource, the operation
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
	paths := object{}
	var tags []any
	for _, t := range sorted {
		n := names[t.Name]
		data, err := embedSchema(t.Name, t.Schema)
		if err != nil {
			return nil, err
		}
		// nameTypes made these names distinct from each other and from
		// the shared ones.
		schemas = append(schemas, member{n.schema, data}, member{n.resource, resourceSchema(n)}, member{n.list, listSchema(n)})
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
	var servers []any
	if info.ServerURL != "" {
		servers = []any{obj("url", info.ServerURL)}
	}
	doc := obj(
		"openapi", Version,
		"info", obj(
			"title", info.Title,
			"version", info.Version,
			"description", apiDescription,
		),
		"servers", servers,
		"security", []any{object{}, obj("bearer", []any{})},
		"tags", append(tags, globalTags()...),
		"paths", paths,
		"components", obj(
			"schemas", schemas,
			"parameters", sharedParameters(),
			"headers", sharedHeaders(),
			"responses", sharedResponses(),
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
	ops      map[string]string
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
			ops:      map[string]string{},
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
	}
}

// globalOperationIDs returns the operationIds of the global routes.
func globalOperationIDs() []string {
	return []string{
		"listTypes", "createType", "getType", "replaceType", "deleteType",
		"listChanges", "batch", "healthz", "readyz",
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
