package filter

import "strings"

// Kind is the type of a filterable field, as derived from the resource
// type's JSON Schema.
type Kind int

// The field kinds.
const (
	// String fields hold JSON strings.
	String Kind = iota + 1
	// Number fields hold JSON numbers.
	Number
	// Bool fields hold JSON booleans.
	Bool
	// Time fields hold RFC 3339 date-time strings and compare chronologically.
	Time
	// Array fields hold JSON arrays of strings and/or numbers.
	Array
	// Any fields are schema-less: any JSON value, checked only at match
	// time. Dotted paths below an Any field are Any too.
	Any
	// Text fields are long strings searched with q as well (a type's
	// search fields without a short maxLength): they take every operator a
	// String does, with the same meaning; the kind tells an index that
	// their values may be long (not worth a facet, indexed by a prefix).
	Text
)

// String returns the lowercase name of the kind, or "invalid".
func (k Kind) String() string {
	switch k {
	case String:
		return "string"
	case Number:
		return "number"
	case Bool:
		return "bool"
	case Time:
		return "time"
	case Array:
		return "array"
	case Any:
		return "any"
	case Text:
		return "text"
	}
	return "invalid"
}

// Field describes one filterable field: its dotted Path (for example
// "author.name") and its Kind.
type Field struct {
	Path string
	Kind Kind
}

// Schema maps dotted paths to the fields that may appear in a filter.
// A nil Schema is valid and holds only the meta fields.
//
// The meta fields id, created_by and updated_by (String) and created_at and
// updated_at (Time) are always present, whatever the Schema says; they are
// read from the meta document by [Expr.Match], not from the data.
type Schema map[string]Field

// metaFields are the envelope fields every type can be filtered on.
var metaFields = map[string]Kind{
	"id":         String,
	"created_at": Time,
	"updated_at": Time,
	"created_by": String,
	"updated_by": String,
}

// IsMeta reports whether path names one of the meta fields (id, created_at,
// updated_at, created_by, updated_by).
func IsMeta(path string) bool {
	_, ok := metaFields[path]
	return ok
}

// lookup resolves a path to its kind. Meta fields win over the schema.
// A path below an Any field is Any.
func (s Schema) lookup(path string) (Kind, bool) {
	if k, ok := metaFields[path]; ok {
		return k, true
	}
	if f, ok := s[path]; ok && f.Kind >= String && f.Kind <= Text {
		return f.Kind, true
	}
	for p := path; ; {
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return 0, false
		}
		p = p[:i]
		if f, ok := s[p]; ok && f.Kind == Any {
			return Any, true
		}
	}
}

// Limits bound the cost of an expression. The zero value of each field
// means its default.
type Limits struct {
	// MaxLength is the maximum length of the expression in bytes.
	// Default 4096.
	MaxLength int
	// MaxDepth is the maximum nesting of parentheses. Default 32.
	MaxDepth int
	// MaxClauses is the maximum number of comparisons. Default 64.
	MaxClauses int
}

// The default limits.
const (
	DefaultMaxLength  = 4096
	DefaultMaxDepth   = 32
	DefaultMaxClauses = 64
)

func (l Limits) withDefaults() Limits {
	if l.MaxLength <= 0 {
		l.MaxLength = DefaultMaxLength
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxClauses <= 0 {
		l.MaxClauses = DefaultMaxClauses
	}
	return l
}
