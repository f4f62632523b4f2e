package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// object is a JSON object that keeps its members in insertion order, so the
// document reads top-down (openapi, info, paths, components) and encodes
// the same bytes every time.
type object []member

type member struct {
	key   string
	value any
}

// obj builds an object from alternating keys and values. Members whose
// value is nil are left out, so optional members can be written inline.
// An odd count or a non-string key is a bug in this package and panics;
// the tests build every shape.
func obj(kv ...any) object {
	if len(kv)%2 != 0 {
		panic("openapi: obj needs key/value pairs")
	}
	o := make(object, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			panic(fmt.Sprintf("openapi: obj key %v is not a string", kv[i]))
		}
		if isNil(kv[i+1]) {
			continue
		}
		o = append(o, member{k, kv[i+1]})
	}
	return o
}

func isNil(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case object:
		return v == nil
	case []any:
		return v == nil
	}
	return false
}

// set replaces the value of key, or appends it.
func (o *object) set(key string, value any) {
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].value = value
			return
		}
	}
	*o = append(*o, member{key, value})
}

// get returns the value of key.
func (o object) get(key string) (any, bool) {
	for _, m := range o {
		if m.key == key {
			return m.value, true
		}
	}
	return nil, false
}

// without returns a copy of o without key.
func (o object) without(key string) object {
	out := make(object, 0, len(o))
	for _, m := range o {
		if m.key != key {
			out = append(out, m)
		}
	}
	return out
}

// MarshalJSON writes the members in order.
func (o object) MarshalJSON() ([]byte, error) { return encodeIndented(o) }

// encodeIndented encodes v as JSON indented by two spaces, with a final
// newline. Objects keep their member order; HTML characters are not
// escaped (the document is served as JSON, never embedded in HTML).
func encodeIndented(v any) ([]byte, error) {
	w := &jsonWriter{}
	w.enc = json.NewEncoder(&w.scratch)
	w.enc.SetEscapeHTML(false)
	if err := w.value(v, "\n"); err != nil {
		return nil, err
	}
	w.out.WriteByte('\n')
	return w.out.Bytes(), nil
}

type jsonWriter struct {
	out     bytes.Buffer
	scratch bytes.Buffer
	enc     *json.Encoder // writes to scratch
}

// maxIndent is the nesting depth below which values are written compactly,
// so that the output of a deeply nested schema stays linear in its size.
const maxIndent = 32

// value writes v. newline is "\n" and the indentation of v's line, or ""
// to write v compactly.
func (w *jsonWriter) value(v any, newline string) error {
	inner, colon := "", ":"
	if newline != "" && len(newline) <= 1+2*maxIndent {
		inner, colon = newline+"  ", ": "
	}
	switch v := v.(type) {
	case object:
		if len(v) == 0 {
			w.out.WriteString("{}")
			return nil
		}
		w.out.WriteByte('{')
		for i, m := range v {
			if i > 0 {
				w.out.WriteByte(',')
			}
			w.out.WriteString(inner)
			if err := w.scalar(m.key); err != nil {
				return err
			}
			w.out.WriteString(colon)
			if err := w.value(m.value, inner); err != nil {
				return fmt.Errorf("%s: %w", m.key, err)
			}
		}
		if inner != "" {
			w.out.WriteString(newline)
		}
		w.out.WriteByte('}')
	case []any:
		if len(v) == 0 {
			w.out.WriteString("[]")
			return nil
		}
		w.out.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				w.out.WriteByte(',')
			}
			w.out.WriteString(inner)
			if err := w.value(e, inner); err != nil {
				return err
			}
		}
		if inner != "" {
			w.out.WriteString(newline)
		}
		w.out.WriteByte(']')
	default:
		return w.scalar(v)
	}
	return nil
}

// scalar writes a string, number, boolean or null (or, compactly, any
// other value encoding/json takes).
func (w *jsonWriter) scalar(v any) error {
	if s, ok := v.(string); ok && plainString(s) {
		w.out.WriteByte('"')
		w.out.WriteString(s)
		w.out.WriteByte('"')
		return nil
	}
	w.scratch.Reset()
	if err := w.enc.Encode(v); err != nil {
		return err
	}
	w.out.Write(bytes.TrimSuffix(w.scratch.Bytes(), []byte("\n")))
	return nil
}

// plainString reports whether s is printable ASCII with no quote or
// backslash, which JSON encodes as is.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// decodeOrdered decodes one JSON value, keeping the member order of
// objects (as object) and the text of numbers (as json.Number). A repeated
// key keeps its first position and its last value, as encoding/json does.
func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	switch d {
	case '{':
		o := object{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			o.set(kt.(string), v)
		}
		_, err := dec.Token() // '}'
		return o, err
	case '[':
		a := []any{}
		for dec.More() {
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token() // ']'
		return a, err
	}
	return nil, fmt.Errorf("unexpected %v", d)
}
