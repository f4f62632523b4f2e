package hookguest

import "errors"

// Errors returned by [Run], and logged by a module before it answers a
// call with status 1.
var (
	// ErrNoHandler means Handle was never called (or was called with nil).
	ErrNoHandler = errors.New("hookguest: no handler registered")
	// ErrEnvelope means the input envelope is not the JSON object ABI v1
	// describes.
	ErrEnvelope = errors.New("hookguest: malformed input envelope")
)
