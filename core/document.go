package core

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// document is resource data decoded, validated and in canonical form.
type document struct {
	obj  map[string]any
	raw  []byte // canonical JSON: sorted keys, no insignificant space
	hash string // "sha256:<hex>" of raw
}

// messages renders schema errors; the validator needs a printer.
var messages = message.NewPrinter(language.English)

// maxJSONDepth bounds nesting so a hostile document cannot exhaust the stack
// of the decoder, the validator or the canonical encoder.
const maxJSONDepth = 64

// decodeObject decodes raw, from a client or a hook, as one JSON object
// with the checks of decodeJSON.
func decodeObject(raw []byte) (map[string]any, error) { return asObject(decodeJSON(raw)) }

// decodeStoredObject decodes stored data, which is always an object.
func decodeStoredObject(raw []byte) (map[string]any, error) { return asObject(decodeStored(raw)) }

var errNotObject = errorf(ErrInvalid, "data must be a JSON object")

// asObject is a decoded value that must be a JSON object.
func asObject(v any, err error) (map[string]any, error) {
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errNotObject
	}
	return obj, nil
}

// patchedObject decodes the result of a patch: one that is not an object
// says so, any other refusal (a number, text) keeps its own message.
func patchedObject(raw []byte) (map[string]any, error) {
	obj, err := decodeObject(raw)
	if errors.Is(err, errNotObject) {
		return nil, errorf(ErrInvalid, "the patch does not produce a JSON object")
	}
	return obj, err
}

// hookDataError is the failure of the hook at stage whose data cannot be
// stored: who names it ("hook posts_fix (before_update)"), or is "" when
// a Go handler may have set the data.
func hookDataError(stage, who string, err error) error {
	var ce *Error
	if !errors.Is(err, errNotObject) && errors.As(err, &ce) {
		return &Error{Kind: ErrHookFailed, Detail: hookFailure(stage, who, "returned data that cannot be stored: "+ce.Detail), Fields: ce.Fields}
	}
	return &Error{Kind: ErrHookFailed, Detail: hookFailure(stage, who, "returned data that is not a JSON object")}
}

// hookFailure is the detail of a failed hook: "hook X (stage) failed:
// what", as for every failure of a WebAssembly hook, or, when who is ""
// (the data may come from a Go handler), "a stage hook what".
func hookFailure(stage, who, what string) string {
	if who == "" {
		return "a " + stage + " hook " + what
	}
	return who + " failed: " + what
}

// checkJSON rejects, without decoding them, documents nested deeper than
// maxJSONDepth and strings that are not Unicode text: invalid UTF-8, and
// \u escapes of lone surrogates. Decoders would store both as U+FFFD,
// silently changing the data; the client must hear of it instead.
func checkJSON(raw []byte) error {
	depth := 0
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch {
			case c == '"':
				inString = false
			case c == '\\':
				if i+1 < len(raw) && raw[i+1] == 'u' {
					n, err := checkEscape(raw, i)
					if err != nil {
						return err
					}
					i += n - 1
				} else {
					i++ // the escaped character
				}
			case c >= utf8.RuneSelf:
				// DecodeRune also refuses overlong forms and encoded surrogates.
				r, size := utf8.DecodeRune(raw[i:])
				if r == utf8.RuneError && size == 1 {
					return errorf(ErrInvalid, "invalid UTF-8 at byte %d: strings must be UTF-8 text", i)
				}
				i += size - 1
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > maxJSONDepth {
				return errorf(ErrInvalid, "JSON nested deeper than %d levels at byte %d", maxJSONDepth, i)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// checkEscape checks the \u escape at raw[i:] and returns its length: a
// high surrogate must be followed by an escaped low surrogate (together
// one character), and a low surrogate cannot stand alone. A malformed
// escape is left to the JSON parser to report.
func checkEscape(raw []byte, i int) (int, error) {
	u, ok := hex4(raw, i+2)
	switch {
	case !ok || u < 0xd800 || u > 0xdfff:
		return 2, nil
	case u < 0xdc00:
		if i+7 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
			if low, ok := hex4(raw, i+8); ok && low >= 0xdc00 && low <= 0xdfff {
				return 12, nil
			}
		}
	}
	return 0, errorf(ErrInvalid, "lone surrogate %s at byte %d: an escaped surrogate must be a high one (\\uD800-\\uDBFF) followed by a low one (\\uDC00-\\uDFFF)", raw[i:i+6], i)
}

// hex4 decodes the four hex digits at raw[i:].
func hex4(raw []byte, i int) (rune, bool) {
	if i+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return errorf(ErrInvalid, "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errorf(ErrInvalid, "malformed JSON: unexpected end of input")
	}
	return errorf(ErrInvalid, "malformed JSON: %s", err.Error())
}

// canonicalJSON encodes v with sorted object keys and without HTML escaping,
// so equal data always has equal bytes and an equal hash.
func canonicalJSON(v any) ([]byte, error) { return appendCanonical(nil, v) }

func hashOf(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// newDocument validates obj against the type's schema and builds its
// canonical form.
func (ct *compiledType) newDocument(obj map[string]any) (*document, error) {
	if err := ct.validate(obj); err != nil {
		return nil, err
	}
	raw, err := canonicalJSON(obj)
	if err != nil {
		return nil, errorf(ErrInvalid, "data cannot be encoded: %s", err.Error())
	}
	return &document{obj: obj, raw: raw, hash: hashOf(raw)}, nil
}

func (ct *compiledType) validate(obj map[string]any) error {
	err := ct.schema.Validate(obj)
	if err == nil {
		return ct.validateReferenceShapes(obj)
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("validate %s data: %w", ct.def.Name, err)
	}
	return fieldError(ErrValidation, "data does not match the schema of "+ct.def.Name, schemaFieldErrors(ve)...)
}

// validateReferenceShapes makes sure reference fields hold ids, whatever
// the schema says, so the reference index can always be kept.
func (ct *compiledType) validateReferenceShapes(obj map[string]any) error {
	var fields []FieldError
	for f := range ct.def.References {
		v, ok := obj[f]
		if !ok || v == nil {
			continue
		}
		if s, isString := v.(string); !isString || !validID(s) {
			fields = append(fields, FieldError{Path: "/" + f, Message: "must be a resource id (string) or null", Source: "reference"})
		}
	}
	if len(fields) > 0 {
		slices.SortFunc(fields, func(a, b FieldError) int { return strings.Compare(a.Path, b.Path) })
		return fieldError(ErrValidation, "data does not match the schema of "+ct.def.Name, fields...)
	}
	return nil
}

// schemaFieldErrors flattens a validation error to its leaves: the
// innermost failures are the ones a person can act on. A missing
// property is reported at its own path (/title), where a form shows it,
// not at the object that lacks it. Errors are sorted by path.
func schemaFieldErrors(ve *jsonschema.ValidationError) []FieldError {
	var out []FieldError
	missing := func(loc []string, names []string, msg string) {
		for _, n := range names {
			out = append(out, FieldError{Path: pointer(append(slices.Clip(loc), n)), Message: msg, Source: "schema"})
		}
	}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			switch k := e.ErrorKind.(type) {
			case *kind.Required:
				missing(e.InstanceLocation, k.Missing, "is required")
			case *kind.DependentRequired:
				missing(e.InstanceLocation, k.Missing, fmt.Sprintf("is required when %q is present", k.Prop))
			case *kind.Dependency:
				missing(e.InstanceLocation, k.Missing, fmt.Sprintf("is required when %q is present", k.Prop))
			default:
				out = append(out, FieldError{
					Path:    pointer(e.InstanceLocation),
					Message: e.ErrorKind.LocalizedString(messages),
					Source:  "schema",
				})
			}
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	if len(out) == 0 {
		out = append(out, FieldError{Path: "", Message: "does not match the schema", Source: "schema"})
	}
	slices.SortStableFunc(out, func(a, b FieldError) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// pointer renders a path as an RFC 6901 JSON Pointer.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		b.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return b.String()
}

// uniqueKeys returns the unique-index keys of obj: field 0x00 value.
func (ct *compiledType) uniqueKeys(obj map[string]any) []string {
	var keys []string
	for _, f := range ct.def.Unique {
		v, ok := obj[f]
		if !ok || v == nil {
			continue
		}
		enc, err := canonicalJSON(v)
		if err != nil {
			continue
		}
		if len(enc) > 256 {
			enc = []byte(hashOf(enc))
		}
		keys = append(keys, f+"\x00"+string(enc))
	}
	return keys
}

// references returns field → target id for the set reference fields of obj.
func (ct *compiledType) references(obj map[string]any) map[string]string {
	var refs map[string]string
	for f := range ct.def.References {
		if s, ok := obj[f].(string); ok {
			if refs == nil {
				refs = make(map[string]string, len(ct.def.References))
			}
			refs[f] = s
		}
	}
	return refs
}
