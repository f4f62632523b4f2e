package filter

import (
	"strconv"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/jsonnum"
)

// Op is a comparison operator.
type Op string

// The comparison operators.
const (
	Eq      Op = "="  // equal; with null: missing or null
	Neq     Op = "!=" // not equal; with null: present and not null
	Gt      Op = ">"
	Gte     Op = ">="
	Lt      Op = "<"
	Lte     Op = "<="
	Like    Op = "~"  // case-insensitive substring
	NotLike Op = "!~" // negation of Like, on string values only
	AnyEq   Op = "?=" // any array element equals
)

// flip returns the operator to use when the operands are swapped, or ""
// if the operator cannot be flipped.
func (o Op) flip() Op {
	switch o {
	case Eq, Neq:
		return o
	case Gt:
		return Lt
	case Gte:
		return Lte
	case Lt:
		return Gt
	case Lte:
		return Gte
	}
	return ""
}

// Node is a node of a checked filter expression: [*And], [*Or] or
// [*Clause]. The set is closed; other packages cannot add node types.
type Node interface {
	isNode()
}

// And matches when all of its Nodes match. It always has at least two
// nodes, none of them an *And.
type And struct {
	Nodes []Node
}

// Or matches when any of its Nodes matches. It always has at least two
// nodes, none of them an *Or.
type Or struct {
	Nodes []Node
}

// Clause is one checked comparison, always with the field on the left.
//
// Value is nil (the null literal, only with [Eq] and [Neq]), a string, a
// float64 or a bool; for a [Time] field a non-null Value is a time.Time.
// Kind is the field's kind from the [Schema] (meta fields included).
// Pos is the byte offset of the clause in the source expression.
type Clause struct {
	Field string
	Kind  Kind
	Op    Op
	Value any
	Pos   int
}

func (*And) isNode()    {}
func (*Or) isNode()     {}
func (*Clause) isNode() {}

// Expr is a parsed and checked filter expression. It is immutable and safe
// for concurrent use.
type Expr struct {
	root Node
}

// Root returns the root of the expression tree; it is never nil. The
// tree must not be modified.
func (e *Expr) Root() Node { return e.root }

// Walk calls fn for every clause of the expression, left to right, and
// stops early when fn returns false.
func (e *Expr) Walk(fn func(c Clause) bool) {
	walk(e.root, fn)
}

func walk(n Node, fn func(c Clause) bool) bool {
	switch n := n.(type) {
	case *And:
		for _, c := range n.Nodes {
			if !walk(c, fn) {
				return false
			}
		}
	case *Or:
		for _, c := range n.Nodes {
			if !walk(c, fn) {
				return false
			}
		}
	case *Clause:
		return fn(*n)
	}
	return true
}

// String returns the canonical form of the expression: field on the left,
// single spaces around operators and joins, double-quoted strings, numbers
// in their canonical spelling (internal/jsonnum), times in RFC 3339 and only the parentheses the
// precedence of && over || requires. Equivalent spellings of the same
// expression have the same canonical form, and parsing it again with the
// same schema yields the same canonical form, so it can bind cursors to a
// filter.
func (e *Expr) String() string {
	var b strings.Builder
	format(&b, e.root, false)
	return b.String()
}

func format(b *strings.Builder, n Node, inAnd bool) {
	switch n := n.(type) {
	case *And:
		for i, c := range n.Nodes {
			if i > 0 {
				b.WriteString(" && ")
			}
			format(b, c, true)
		}
	case *Or:
		if inAnd {
			b.WriteByte('(')
		}
		for i, c := range n.Nodes {
			if i > 0 {
				b.WriteString(" || ")
			}
			format(b, c, false)
		}
		if inAnd {
			b.WriteByte(')')
		}
	case *Clause:
		b.WriteString(n.Field)
		b.WriteByte(' ')
		b.WriteString(string(n.Op))
		b.WriteByte(' ')
		b.WriteString(formatValue(n.Value))
	}
}

func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return string(jsonnum.Append(nil, v))
	case time.Time:
		return quote(v.Format(time.RFC3339Nano))
	case string:
		return quote(v)
	}
	return "null"
}

// quote renders s as a double-quoted fexpr text literal.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
