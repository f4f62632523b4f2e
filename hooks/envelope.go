package hooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Limits bounds one call. The zero value means the defaults.
type Limits struct {
	// Timeout is the wall-clock limit of the guest's work, instantiation
	// included; waiting for a concurrency slot is not counted. 0 means
	// DefaultTimeout (100 ms).
	Timeout time.Duration
	// MemoryMB is the largest linear memory the guest may have, in MiB.
	// 0 means DefaultMemoryMB (16); values above the Runtime's
	// WithMaxMemoryMB are clamped to it.
	MemoryMB int
	// Fuel, when positive, bounds the work of hook_handle, counted
	// deterministically in units of one function entry or one loop
	// iteration: the same input always passes or always fails its budget,
	// whatever the machine and its load (a call running out fails with
	// ReasonFuel). 0 means no budget: the Timeout alone bounds the call.
	// Instantiation (_initialize) is not counted.
	Fuel int64
}

// Input is the content of the input envelope (SPEC §5) a hook reads. Call
// adds "abi": 1 and "hook": the module's name.
type Input struct {
	// Stage is the stage the hook is bound to, such as "validate".
	Stage string
	// Type is the resource type's name.
	Type string
	// ID is the resource's id.
	ID string
	// Data is the resource data the stage is about; nil is sent as null.
	// Data, Previous and Config must be valid JSON; they are sent as
	// given.
	Data json.RawMessage
	// Previous is the data before the write; omitted when nil.
	Previous json.RawMessage
	// Principal is who asked for the write; omitted when nil.
	Principal *Principal
	// Request identifies the request behind the call.
	Request RequestInfo
	// Config is the binding's configuration; omitted when nil.
	Config json.RawMessage
}

// Principal is the authenticated caller in the input envelope.
type Principal struct {
	ID    string   `json:"id"`
	Roles []string `json:"roles"`
}

// RequestInfo identifies a request in the input envelope.
type RequestInfo struct {
	ID   string `json:"id"`
	Time string `json:"time"`
}

// envelope is what an input envelope holds besides "abi" and "hook": the
// one form both Call's Input and core's HookCall are encoded from.
type envelope struct {
	stage, typ, id         string
	data, previous, config json.RawMessage
	principal              bool // whether there is a principal
	principalID            string
	roles                  []string // nil is sent as null
	requestID, requestTime string
}

// encodeInput builds the input envelope of a call to hook: the fields of
// SPEC §5 in a fixed order. It fails if a raw field is not valid JSON.
func encodeInput(hook string, in *Input) ([]byte, error) {
	for _, f := range [...]struct {
		name string
		raw  json.RawMessage
	}{{"data", in.Data}, {"previous", in.Previous}, {"config", in.Config}} {
		if len(f.raw) > 0 && !json.Valid(f.raw) {
			return nil, fmt.Errorf("encode input envelope: %s is not valid JSON", f.name)
		}
	}
	e := envelope{stage: in.Stage, typ: in.Type, id: in.ID, data: in.Data, previous: in.Previous, config: in.Config,
		requestID: in.Request.ID, requestTime: in.Request.Time}
	if p := in.Principal; p != nil {
		e.principal, e.principalID, e.roles = true, p.ID, p.Roles
	}
	return appendEnvelope(hook, &e), nil
}

// appendEnvelope encodes e; its raw fields must be valid JSON.
func appendEnvelope(hook string, in *envelope) []byte {
	n := 160 + len(hook) + len(in.stage) + len(in.typ) + len(in.id) + len(in.data) + len(in.previous) +
		len(in.config) + len(in.requestID) + len(in.requestTime)
	b := make([]byte, 0, n)
	b = append(b, `{"abi":1,"hook":`...)
	b = appendString(b, hook)
	b = append(b, `,"stage":`...)
	b = appendString(b, in.stage)
	b = append(b, `,"type":`...)
	b = appendString(b, in.typ)
	b = append(b, `,"id":`...)
	b = appendString(b, in.id)
	b = append(b, `,"data":`...)
	if len(in.data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, in.data...)
	}
	if len(in.previous) > 0 {
		b = append(b, `,"previous":`...)
		b = append(b, in.previous...)
	}
	if in.principal {
		b = append(b, `,"principal":{"id":`...)
		b = appendString(b, in.principalID)
		b = append(b, `,"roles":`...)
		if in.roles == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i, role := range in.roles {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendString(b, role)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `,"request":{"id":`...)
	b = appendString(b, in.requestID)
	b = append(b, `,"time":`...)
	b = appendString(b, in.requestTime)
	b = append(b, '}')
	if len(in.config) > 0 {
		b = append(b, `,"config":`...)
		b = append(b, in.config...)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string, escaped as encoding/json does
// (invalid UTF-8 becomes U+FFFD).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// Output is a decoded output envelope.
type Output struct {
	// Allow is false when the hook rejects the write.
	Allow bool `json:"allow"`
	// Errors explain a rejection, field by field.
	Errors []OutputError `json:"errors"`
	// Data, when not nil, replaces the resource data (before_* stages);
	// nil when the envelope has no data or data is null.
	Data json.RawMessage `json:"data"`
	// Events are domain events the hook asks to publish.
	Events []OutputEvent `json:"events"`
}

// OutputError is one field error of a rejection.
type OutputError struct {
	// Path is a JSON Pointer into the data ("" for the whole document).
	Path string `json:"path"`
	// Message says what is wrong, for people.
	Message string `json:"message"`
}

// OutputEvent is an event a hook asks to publish. Through a core.Manager
// it is stored in the change log with the write (action "event"), if the
// write commits; core bounds the events of one write.
type OutputEvent struct {
	// Type names the event, such as "post.flagged"; it must not be empty.
	Type string `json:"type"`
	// Data is any JSON value; nil when the event has none.
	Data json.RawMessage `json:"data"`
}

// outputEnvelope is the wire form of Output; Allow is required.
type outputEnvelope struct {
	Allow  *bool           `json:"allow"`
	Errors []OutputError   `json:"errors"`
	Data   json.RawMessage `json:"data"`
	Events []OutputEvent   `json:"events"`
}

var (
	errNoAllow     = errors.New(`output envelope has no boolean "allow"`)
	errEventNoType = errors.New(`output event has no "type"`)
)

// decodeOutput parses an output envelope. Sub-slices of raw end up in the
// result.
func decodeOutput(raw []byte) (Output, error) {
	var w outputEnvelope
	if err := json.Unmarshal(raw, &w); err != nil {
		return Output{}, fmt.Errorf("output envelope is not valid: %w", err)
	}
	if w.Allow == nil {
		return Output{}, errNoAllow
	}
	for _, ev := range w.Events {
		if ev.Type == "" {
			return Output{}, errEventNoType
		}
	}
	out := Output{Allow: *w.Allow, Errors: w.Errors, Data: w.Data, Events: w.Events}
	if bytes.Equal(out.Data, []byte("null")) {
		out.Data = nil
	}
	return out, nil
}

// Result is the outcome of a successful call: hook_handle returned 0 and
// wrote a valid output envelope.
type Result struct {
	// Output is the decoded output envelope.
	Output Output
	// Raw is the output envelope as the module wrote it.
	Raw []byte
	// SHA256 is the hex SHA-256 of the module that ran, for provenance.
	SHA256 string
	// Logs are the lines the hook logged through hook.log, stdout and
	// stderr during the call, capped (see docs/hooks.md).
	Logs []LogLine
	// Duration is the time spent running the guest, instantiation
	// included and waiting for a concurrency slot excluded.
	Duration time.Duration
	// MemoryBytes is the size of the guest's linear memory after the call.
	MemoryBytes uint32
}

// LogLine is one line a hook logged.
type LogLine struct {
	// Level is 0 debug, 1 info (stdout), 2 warn (stderr), 3 error.
	Level int `json:"level"`
	// Message is the line, without its newline, at most 4 KiB.
	Message string `json:"message"`
}

// ModuleInfo describes a registered module.
type ModuleInfo struct {
	// Name is the name the module is registered under.
	Name string `json:"name"`
	// SHA256 is the hex SHA-256 of the module's bytes.
	SHA256 string `json:"sha256"`
	// Size is the module's size in bytes.
	Size int `json:"size"`
	// RegisteredAt is when Register accepted the module.
	RegisteredAt time.Time `json:"registered_at"`
}
