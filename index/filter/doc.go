// Package filter parses, checks and evaluates the filter expressions of
// list requests (SPEC §3 "List"), for example
//
//	status = "published" && (views > 100 || tags ?= "go") && created_at >= "2024-01-01T00:00:00Z"
//
// [Parse] turns an expression into a checked [Expr] against a [Schema];
// [Expr.Match] evaluates it exactly over a decoded JSON document and is
// the reference the index's compiled queries are tested against;
// [Expr.Root] and [Expr.Walk] expose the tree for compilation; and
// [Expr.String] gives a canonical form for binding cursors to a filter.
//
// # Syntax
//
// Tokens are scanned with github.com/ganigeorgiev/fexpr (PocketBase's
// filter scanner), so quoting, numbers, identifiers and // comments follow
// it: strings in single or double quotes with \n \t \r \\ \' \" escapes,
// numbers as -?digits(.digits)? (no exponents), dotted identifiers.
// The parser itself is this package's: && binds tighter than ||,
// parentheses group, and every error carries a byte position.
//
// Operators: = != > >= < <= ~ !~ ?=. fexpr's other "any" operators (?!=,
// ?~, ...) and function calls are rejected. Literals: strings, numbers,
// true, false, null; the words null, true and false are never field names.
//
// A comparison has a field on one side and a literal on the other. A
// literal on the left is accepted for = != > >= < <= and the operator is
// flipped ("5 < views" is "views > 5"); ~, !~ and ?= need the field on the
// left. Field-to-field comparisons are rejected.
//
// # Type checking
//
//   - string: = != > >= < <= ~ !~ with a string literal
//   - number: = != > >= < <= with a number literal
//   - bool: = != with true or false
//   - time: = != > >= < <= with an RFC 3339 string literal
//   - array: ?= with a string or number literal
//   - any: every operator; ~ and !~ need a string literal, ordering needs a
//     string or number literal
//   - text (a long full-text field): as string
//
// Every kind may be compared with null using = or != only. Unknown fields,
// other combinations and exceeded [Limits] are [*Error]s.
//
// # Semantics
//
// A field that is missing and a field that is null are the same. Against
// such a field, "= null" and every "!= literal" are true and everything
// else is false; "!= null" is true exactly when the field is present and
// not null.
//
// For a present value, != is the negation of =. Equality and ordering
// need the value's JSON type to match the literal's (a number never equals
// a string); otherwise = is false, != is true and ordering is false.
// Strings order bytewise (lexicographically by UTF-8), numbers
// numerically, time fields chronologically (a value that is not RFC 3339
// compares false, and != true).
//
// ~ is a case-insensitive substring test (PocketBase's "contains"); % and _
// are ordinary characters, not wildcards, and an empty literal matches
// every string. !~ is true when the value is a string that does not
// contain the literal; both are false for non-string values. ?= is true
// when the value is an array with an element equal to the literal.
//
// Meta fields (id, created_at, updated_at, created_by, updated_by) are read
// from the meta document, never from the data, and shadow data fields with
// the same name.
package filter
