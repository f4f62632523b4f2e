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

	"github.com/santhosh-tekuri/jsonschema/v6"
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

// decodeObject decodes raw as one JSON object with numbers kept exact.
func decodeObject(raw []byte) (map[string]any, error) {
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errorf(ErrInvalid, "data must be a JSON object")
	}
	return obj, nil
}

// checkDepth rejects documents nested deeper than maxJSONDepth without
// decoding them.
func checkDepth(raw []byte) error {
	depth := 0
	inString, escaped := false, false
	for i, c := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > maxJSONDepth {
				return errorf(ErrInvalid, "JSON nested deeper than %d levels at byte %d", maxJSONDepth, i)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
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
// innermost failures are the ones a person can act on.
func schemaFieldErrors(ve *jsonschema.ValidationError) []FieldError {
	var out []FieldError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, FieldError{
				Path:    pointer(e.InstanceLocation),
				Message: e.ErrorKind.LocalizedString(messages),
				Source:  "schema",
			})
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
