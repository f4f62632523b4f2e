package filter

import "fmt"

// Error is the error returned by [Parse] for every rejected expression:
// malformed syntax, unknown fields, type mismatches and exceeded [Limits].
// Pos is the byte offset into the expression where the problem was found,
// always in the range [0, len(expr)]. Msg is lowercase and carries no
// package prefix; Error adds both the prefix and the position.
//
// Msg never contains anything but the expression's own text and fixed
// wording, so it is safe to show to the client that sent the expression.
type Error struct {
	Pos int
	Msg string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("filter: %s (at position %d)", e.Msg, e.Pos)
}

func errorf(pos int, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}
