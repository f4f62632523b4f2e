package core

import (
	"errors"
	"fmt"
	"strings"

	"github.com/strata-dev/strata/sdk/storage"
)

// Error kinds. Every error a Manager returns for a client's mistake wraps
// exactly one of them; anything else is an internal failure.
var (
	// ErrInvalid: the request is malformed (bad JSON, bad id, bad patch,
	// bad cursor, bad type definition).
	ErrInvalid = errors.New("core: invalid request")

	// ErrNotFound: the type, resource or revision does not exist (or is
	// soft-deleted and not asked for).
	ErrNotFound = errors.New("core: not found")

	// ErrForbidden: the principal may read the resource (or see the type)
	// but not do what it asked.
	ErrForbidden = errors.New("core: forbidden")

	// ErrUnauthenticated: an anonymous principal is not allowed what it
	// asked; a credential might help.
	ErrUnauthenticated = errors.New("core: unauthenticated")

	// ErrGone: a write addressed a soft-deleted resource.
	ErrGone = errors.New("core: resource is deleted")

	// ErrConflict: a unique value is taken, a reference is broken or
	// restricted, or the id already exists.
	ErrConflict = errors.New("core: conflict")

	// ErrPreconditionFailed: If-Match named a revision that is not current.
	ErrPreconditionFailed = errors.New("core: precondition failed")

	// ErrValidation: the data violates the type's schema.
	ErrValidation = errors.New("core: validation failed")

	// ErrTooLarge: a write would store data over the Manager's
	// MaxDocumentSize, or a patch is bigger than that limit or copies more
	// than it. Nothing was written.
	ErrTooLarge = errors.New("core: too large")

	// ErrClosed: the Manager was closed.
	ErrClosed = errors.New("core: manager is closed")

	// ErrNoSpace: a write failed because the server's disk (or quota) is
	// full; nothing of it was written. It is the storage backend's
	// sentinel itself, so every error a backend wraps it in, however core
	// wraps that again, satisfies errors.Is(err, ErrNoSpace). Not the
	// client's fault: it may retry once space is freed.
	ErrNoSpace = storage.ErrNoSpace
)

// FieldError names one problem with one place in a document.
type FieldError struct {
	// Path is a JSON Pointer into the data ("/email"); "" is the whole document.
	Path string `json:"path"`
	// Message says what is wrong, for a person.
	Message string `json:"message"`
	// Source says which rule found it: "schema", "unique", "reference", or a
	// hook's name.
	Source string `json:"source,omitempty"`
}

// Error is a client-facing error with a kind, a detail sentence and
// optional field errors. Its Unwrap returns the kind, so errors.Is(err,
// ErrConflict) works on it.
type Error struct {
	Kind   error
	Detail string
	Fields []FieldError
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s %s", f.Path, f.Message)
	}
	return b.String()
}

// Unwrap returns the error's kind.
func (e *Error) Unwrap() error { return e.Kind }

func errorf(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

func fieldError(kind error, detail string, fields ...FieldError) *Error {
	return &Error{Kind: kind, Detail: detail, Fields: fields}
}

// BatchError reports which operation of a batch failed. Nothing of the batch
// was written. Its Unwrap returns the operation's error.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("batch operation %d: %v", e.Index, e.Err) }

// Unwrap returns the failed operation's error.
func (e *BatchError) Unwrap() error { return e.Err }
