package hookguest

import "fmt"

// ABI is the version of the hook ABI this package implements.
const ABI = 1

// Event is the input envelope of one hook call. The handler owns it for the
// duration of the call and may modify it, for example to return Data with a
// field changed. Nothing in it is retained by the package after the call.
type Event struct {
	// ABI is the envelope's ABI version, 1.
	ABI int `json:"abi"`
	// Hook is the name the hook is bound under, e.g. "posts_validate".
	Hook string `json:"hook"`
	// Stage is the stage being run: "validate", "before_create",
	// "before_update", "before_delete", "after_create", "after_update",
	// "after_delete" or "job".
	Stage string `json:"stage"`
	// Type is the resource type, e.g. "posts".
	Type string `json:"type"`
	// ID is the resource's ID; empty when the host sent none.
	ID string `json:"id"`
	// Data is the resource data being written (or, for after_* stages,
	// written). Nil when the envelope has no data or data is null. Numbers
	// are json.Number.
	Data map[string]any `json:"data"`
	// Previous is the data before the write; nil on create.
	Previous map[string]any `json:"previous"`
	// Principal is who made the request; zero for anonymous requests.
	Principal Principal `json:"principal"`
	// Request identifies the HTTP request that caused the call.
	Request Request `json:"request"`
	// Config is the binding's config, any JSON value (an object decodes
	// to map[string]any); nil if the binding has none.
	Config any `json:"config"`
}

// Principal is the authenticated caller of the request that ran a hook.
type Principal struct {
	ID    string   `json:"id"`
	Roles []string `json:"roles"`
}

// Request identifies the request that ran a hook. Time is the request's
// time as the host formatted it (RFC 3339); it is the only clock a hook
// should trust, since the sandbox's own clock is fake.
type Request struct {
	ID   string `json:"id"`
	Time string `json:"time"`
}

// Output is a hook's answer.
type Output struct {
	// Allow lets the write go on; false rejects it with Errors (422).
	Allow bool `json:"allow"`
	// Errors explains a rejection, one entry per offending field.
	Errors []FieldError `json:"errors,omitempty"`
	// Data, when non-nil, replaces the resource data. The host applies it
	// in before_* stages only and ignores it elsewhere.
	Data map[string]any `json:"data,omitzero"`
	// Events are emitted to the change feed along with the write.
	Events []EmittedEvent `json:"events,omitempty"`
}

// FieldError is one reason for a rejection. Path is a JSON Pointer into the
// resource data ("/title"); empty for the resource as a whole.
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// EmittedEvent is an event a hook asks the host to publish.
type EmittedEvent struct {
	Type string `json:"type"`
	Data any    `json:"data,omitempty"`
}

// Reject returns an Output that rejects the write with one field error.
func Reject(path, message string) *Output {
	return &Output{Errors: []FieldError{{Path: path, Message: message}}}
}

// HandlerFunc handles one hook call. Returning a nil Output and a nil error
// allows the write unchanged. Returning an error, or panicking, makes the
// call a hook error: the host answers 500 and discards the instance.
type HandlerFunc func(ev *Event) (*Output, error)

// Level is the severity of a [Log] line, as the host ABI numbers it.
type Level int32

// Log levels.
const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

// Run decodes the input envelope, calls h and returns the encoded output
// envelope. It is what the module does for each call, exposed so hook logic
// can be tested natively:
//
//	out, err := hookguest.Run(check, []byte(`{"abi":1,"data":{"title":"Hi"}}`))
//
// The error wraps [ErrEnvelope] when input does not decode, is the
// handler's own error, or reports a handler panic.
func Run(h HandlerFunc, input []byte) ([]byte, error) {
	return run(nil, h, input)
}

// run is Run appending the output to dst[:0], so the module can reuse one
// buffer for every call.
func run(dst []byte, h HandlerFunc, input []byte) ([]byte, error) {
	if h == nil {
		return nil, ErrNoHandler
	}
	var ev Event
	if err := decodeEnvelope(input, &ev); err != nil {
		return nil, err
	}
	out, err := call(h, &ev)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = &Output{Allow: true}
	}
	return appendOutput(dst[:0], out)
}

// call runs h, turning a panic into an error so one bad input does not take
// the module instance down with a trap.
func call(h HandlerFunc, ev *Event) (out *Output, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("hookguest: handler panicked: %v", r)
		}
	}()
	return h(ev)
}

// A module instance forces a garbage collection after GCInterval calls or
// GCInputBytes bytes of input, whichever comes first (see Memory in the
// package documentation).
const (
	GCInterval   = 64
	GCInputBytes = 1 << 20
)
