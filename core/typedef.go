package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Type is a resource type: a name, a JSON Schema (draft 2020-12) for the
// data of its resources, and options. It is the body of POST /api/types and
// an entry under types: in strata.yaml. Only Name and Schema are required.
type Type struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`

	// Search names the fields analysed for full-text search.
	Search []string `json:"search,omitempty"`
	// Unique names top-level fields whose non-null values must be distinct
	// among live resources of the type.
	Unique []string `json:"unique,omitempty"`
	// References maps a top-level field holding a resource id to the type it
	// points at and what happens when the target is deleted.
	References map[string]Reference `json:"references,omitempty"`
	// Hooks binds WebAssembly modules to lifecycle stages, in order.
	Hooks []HookBinding `json:"hooks,omitempty"`
	// Permissions maps an action (read, create, update, delete, admin) to
	// who may perform it. No permissions means admins only.
	Permissions map[string][]string `json:"permissions,omitempty"`
	// Retention limits how many revisions of a resource are kept.
	Retention *Retention `json:"retention,omitempty"`
	// Hidden names top-level properties of the schema that only
	// administrators may read (a password hash, say): they are stripped
	// from everything core returns to anyone else, and may not be
	// filtered, sorted or searched on by them. Writes may set them; hooks
	// see them.
	Hidden []string `json:"hidden,omitempty"`

	// SchemaVersion starts at 1 and grows by one each time Schema changes.
	// It is set by the Manager; a value sent by a client is ignored.
	SchemaVersion int `json:"schema_version"`
	// CreatedAt and UpdatedAt are set by the Manager.
	CreatedAt string `json:"created_at,omitempty"`
	UpdatedAt string `json:"updated_at,omitempty"`
}

// Reference describes a field that holds the id of a resource of another
// (or the same) type.
type Reference struct {
	Type string `json:"type"`
	// OnDelete is "restrict" (the default: deleting a referenced resource is
	// a conflict), "set_null" (referrers get a new revision with the field
	// set to null) or "cascade" (referrers are deleted too).
	OnDelete string `json:"on_delete,omitempty"`
}

// On-delete policies of a Reference.
const (
	OnDeleteRestrict = "restrict"
	OnDeleteSetNull  = "set_null"
	OnDeleteCascade  = "cascade"
)

// HookBinding binds a hook module to a stage of a type's lifecycle.
type HookBinding struct {
	Stage         string          `json:"stage"`
	Module        string          `json:"module"`
	TimeoutMS     int             `json:"timeout_ms,omitempty"`
	MemoryMB      int             `json:"memory_mb,omitempty"`
	FailurePolicy string          `json:"failure_policy,omitempty"`
	Config        json.RawMessage `json:"config,omitempty"`
	// Fuel, when positive, bounds the work of each call of the hook in
	// deterministic units (one function entry or one loop iteration): the
	// same input always passes or always fails it. 0: only the timeout
	// bounds the call.
	Fuel int64 `json:"fuel,omitempty"`
}

// Retention limits the revisions kept per resource.
type Retention struct {
	// KeepLast keeps the newest KeepLast revisions of each resource, and
	// the current one with its ancestors, KeepLast deep; older ones are
	// pruned in the background (Manager.PruneRevisions). 0 keeps every
	// revision, whatever Options.KeepLast says.
	KeepLast int `json:"keep_last"`
}

var (
	typeNamePattern  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	fieldNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	hookStages       = []string{"validate", "before_create", "before_update", "before_delete", "after_create", "after_update", "after_delete", "job"}
	permActions      = []string{"read", "create", "update", "delete", "admin"}
	// reservedTypeNames are paths under /api that are not types.
	reservedTypeNames = []string{"batch", "blobs", "changes", "events", "graphql", "hooks", "keys", "types"}
	// laterReservedTypeNames are paths under /api reserved since types
	// were first stored: a new type may not take them, but a type stored
	// under one by an older version still loads (its routes are shadowed).
	laterReservedTypeNames = []string{"backup", "export", "import", "webhooks"}
)

// checkNewTypeName refuses a name that a type being created may not take,
// beyond what compileType checks.
func checkNewTypeName(name string) error {
	if !slices.Contains(laterReservedTypeNames, name) {
		return nil
	}
	return reservedNameError(name)
}

// reservedNameError is the error of a type named after a reserved path.
func reservedNameError(name string) error {
	all := slices.Sorted(slices.Values(append(slices.Clone(reservedTypeNames), laterReservedTypeNames...)))
	return fieldError(ErrInvalid, "invalid type definition",
		FieldError{Path: "/name", Message: fmt.Sprintf("%q is reserved; reserved names: %s", name, strings.Join(all, ", "))})
}

// compiledType is a Type ready for use: its schema compiled.
type compiledType struct {
	def    Type
	schema *typeSchema
	blobs  typeBlobs // the properties holding blob hashes (blob.go)
}

// compileType checks a definition and compiles its schema. It does not look
// at other types; reference targets are checked in the write transaction.
func compileType(def Type) (*compiledType, error) { return compileTypeAs(def, false) }

// compileStoredType compiles a definition read back from the store. It
// accepts what an earlier version accepted, so that an upgrade never stops
// the server from starting: a root schema that refuses objects (such a type
// cannot hold resources, but exists) and RE2-only patterns. A client must
// fix them the next time it updates the type.
func compileStoredType(def Type) (*compiledType, error) { return compileTypeAs(def, true) }

func compileTypeAs(def Type, stored bool) (*compiledType, error) {
	if !typeNamePattern.MatchString(def.Name) {
		return nil, fieldError(ErrInvalid, "invalid type definition",
			FieldError{Path: "/name", Message: "must match [a-z][a-z0-9_]{0,62}"})
	}
	if slices.Contains(reservedTypeNames, def.Name) {
		return nil, reservedNameError(def.Name)
	}
	var fields []FieldError
	bad := func(path, format string, args ...any) {
		fields = append(fields, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if len(bytes.TrimSpace(def.Schema)) == 0 {
		return nil, fieldError(ErrInvalid, "invalid type definition", FieldError{Path: "/schema", Message: "is required"})
	}
	for i, f := range def.Search {
		if !fieldNamePattern.MatchString(f) {
			bad(fmt.Sprintf("/search/%d", i), "%q is not a field name", f)
		}
	}
	for i, f := range def.Unique {
		if !fieldNamePattern.MatchString(f) {
			bad(fmt.Sprintf("/unique/%d", i), "%q is not a top-level field name", f)
		}
		if slices.Index(def.Unique, f) != i {
			bad(fmt.Sprintf("/unique/%d", i), "%q is listed twice", f)
		}
	}
	for f, ref := range def.References {
		p := "/references/" + f
		if !fieldNamePattern.MatchString(f) {
			bad(p, "%q is not a top-level field name", f)
		}
		if !typeNamePattern.MatchString(ref.Type) {
			bad(p+"/type", "%q is not a type name", ref.Type)
		}
		switch ref.OnDelete {
		case "", OnDeleteRestrict, OnDeleteSetNull, OnDeleteCascade:
		default:
			bad(p+"/on_delete", "must be restrict, set_null or cascade")
		}
	}
	for i, h := range def.Hooks {
		if !slices.Contains(hookStages, h.Stage) {
			bad(fmt.Sprintf("/hooks/%d/stage", i), "must be one of %s", strings.Join(hookStages, ", "))
		}
		if h.Module == "" {
			bad(fmt.Sprintf("/hooks/%d/module", i), "is required")
		}
		if h.TimeoutMS < 0 || h.MemoryMB < 0 || h.Fuel < 0 {
			bad(fmt.Sprintf("/hooks/%d", i), "timeout_ms, memory_mb and fuel must not be negative")
		}
		switch h.FailurePolicy {
		case "", "fail", "ignore":
		default:
			bad(fmt.Sprintf("/hooks/%d/failure_policy", i), "must be fail or ignore")
		}
	}
	for action, who := range def.Permissions {
		if !slices.Contains(permActions, action) {
			bad("/permissions/"+action, "unknown action; want one of %s", strings.Join(permActions, ", "))
		}
		for i, w := range who {
			if w != "public" && w != "authenticated" && w != "owner" && !(strings.HasPrefix(w, "role:") && len(w) > 5) {
				bad(fmt.Sprintf("/permissions/%s/%d", action, i), "must be public, authenticated, owner or role:NAME")
			}
		}
	}
	for i, f := range def.Hidden {
		if slices.Index(def.Hidden, f) != i {
			bad(fmt.Sprintf("/hidden/%d", i), "%q is listed twice", f)
		}
	}
	if def.Retention != nil && def.Retention.KeepLast < 0 {
		bad("/retention/keep_last", "must not be negative")
	}
	if len(fields) > 0 {
		slices.SortFunc(fields, func(a, b FieldError) int { return strings.Compare(a.Path, b.Path) })
		return nil, fieldError(ErrInvalid, "invalid type definition", fields...)
	}

	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(def.Schema))
	if err != nil {
		return nil, fieldError(ErrInvalid, "invalid type definition", FieldError{Path: "/schema", Message: "is not valid JSON"})
	}
	if fields := hiddenNotProperties(def.Hidden, doc); len(fields) > 0 {
		return nil, fieldError(ErrInvalid, "invalid type definition", fields...)
	}
	sch, err := compileSchema(def.Name, doc, stored)
	if err != nil {
		return nil, fieldError(ErrInvalid, "invalid type definition",
			FieldError{Path: "/schema", Message: "is not a valid JSON Schema 2020-12: " + err.Error()})
	}
	if !stored {
		if why := objectRefusal(sch.root); why != "" {
			return nil, fieldError(ErrInvalid, "invalid type definition", FieldError{Path: "/schema",
				Message: "can never accept a JSON object, and a resource's data is always one: " + why})
		}
	}
	def.Schema, err = canonicalJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("encode schema of %s: %w", def.Name, err)
	}
	ct := &compiledType{def: def, schema: sch}
	if obj, ok := doc.(map[string]any); ok {
		ct.blobs.single, ct.blobs.arrays = blobFields(obj)
	}
	return ct, nil
}

// onDelete returns the policy of the reference field f.
func (ct *compiledType) onDelete(f string) string {
	if p := ct.def.References[f].OnDelete; p != "" {
		return p
	}
	return OnDeleteRestrict
}

// sameSchema reports whether two canonical schemas are equal.
func sameSchema(a, b json.RawMessage) bool { return bytes.Equal(a, b) }

// hiddenNotProperties reports the hidden fields that are not top-level
// properties of the schema doc.
func hiddenNotProperties(hidden []string, doc any) []FieldError {
	var props map[string]any
	if root, ok := doc.(map[string]any); ok {
		props, _ = root["properties"].(map[string]any)
	}
	var fields []FieldError
	for i, f := range hidden {
		if _, ok := props[f]; !ok {
			fields = append(fields, FieldError{Path: fmt.Sprintf("/hidden/%d", i),
				Message: fmt.Sprintf("%q is not a property of the schema", f)})
		}
	}
	return fields
}
