package hooks

import (
	"errors"
	"strings"
)

// Errors returned by Runtime's methods. Check them with errors.Is.
var (
	// ErrInvalidModule is wrapped by Register when a module cannot be
	// compiled, breaks ABI v1 (missing or mistyped exports, imports that are
	// not allowed, a memory too large) or is registered under a name that
	// is not [a-z0-9_-]{1,64}. The message says which.
	ErrInvalidModule = errors.New("hooks: invalid module")

	// ErrNotFound is wrapped by Call and Remove when no module is
	// registered under the name.
	ErrNotFound = errors.New("hooks: module not found")

	// ErrClosed is wrapped by every method of a Runtime that has been
	// closed.
	ErrClosed = errors.New("hooks: runtime closed")

	// ErrHookFailed matches every *CallError: the hook ran and failed
	// (status other than 0, trap, timeout, fuel, memory limit, bad output
	// or ABI misuse).
	ErrHookFailed = errors.New("hooks: hook failed")
)

// Reasons a call fails, the values of CallError.Reason.
const (
	// ReasonTimeout: the call ran past its Limits.Timeout, or the
	// caller's context ended first (Err then wraps context.Canceled or
	// context.DeadlineExceeded).
	ReasonTimeout = "timeout"
	// ReasonTrap: the guest trapped (unreachable, out-of-bounds memory
	// access, division by zero, call stack exhausted), called env.abort or
	// WASI proc_exit, or its _initialize failed.
	ReasonTrap = "trap"
	// ReasonMemory: the guest needed more linear memory than
	// Limits.MemoryMB allows, at instantiation or through memory.grow.
	ReasonMemory = "memory"
	// ReasonStatus: hook_handle returned a status other than 0 (1 is the
	// guest's own "hook error").
	ReasonStatus = "status"
	// ReasonOutput: status 0 but no output, malformed output, output over
	// 1 MiB, or output_write called more than once.
	ReasonOutput = "output"
	// ReasonFuel: the guest used up its Limits.Fuel budget.
	ReasonFuel = "fuel"
	// ReasonABI: the guest misused an import, such as handing the host a
	// pointer range outside its memory.
	ReasonABI = "abi"
)

// CallError describes a failed hook call. Every failure of a guest during
// Call is reported as a *CallError; the instance involved is discarded.
// errors.Is(err, ErrHookFailed) matches it, and Unwrap exposes the
// underlying cause (for a timeout, context.DeadlineExceeded or
// context.Canceled).
type CallError struct {
	// Hook is the name of the module that failed.
	Hook string
	// Reason is one of the Reason constants.
	Reason string
	// Err is the cause. Its text may hold a multi-line wasm stack trace;
	// Error shows only its first line.
	Err error
}

// Error returns a one-line message fit for a client: the hook, the reason
// and the first line of the cause, with no host internals.
func (e *CallError) Error() string {
	var b strings.Builder
	b.WriteString("hooks: hook ")
	b.WriteString(e.Hook)
	b.WriteString(" failed (")
	b.WriteString(e.Reason)
	b.WriteString(")")
	if msg := e.cause(); msg != "" {
		b.WriteString(": ")
		b.WriteString(msg)
	}
	return b.String()
}

// cause is the first line of the cause's message, without wazero's
// notes; "" without a cause.
func (e *CallError) cause() string {
	if e.Err == nil {
		return ""
	}
	msg := e.Err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimSuffix(strings.TrimSpace(msg), " (recovered by wazero)")
}

// Unwrap returns the cause.
func (e *CallError) Unwrap() error { return e.Err }

// Is reports whether target is ErrHookFailed.
func (e *CallError) Is(target error) bool { return target == ErrHookFailed }
