package hookguest

// A small JSON codec for envelopes. encoding/json works inside a module but
// is slow there: its byte-at-a-time state machine costs about 30 ns a byte
// under wasm, and decoding a 350-byte envelope into maps took ~150 µs. This
// codec produces exactly what encoding/json (with UseNumber, and
// SetEscapeHTML(false) when encoding) does for the values an envelope
// holds, which the fuzz tests check, and falls back to encoding/json for Go
// values it does not know.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of decoded values. Each level costs a few wasm
// call frames, and the host bounds the call stack (10,000 frames).
const maxDepth = 1000

// decodeEnvelope decodes an input envelope into ev. Errors wrap ErrEnvelope.
func decodeEnvelope(src []byte, ev *Event) error {
	d := decoder{src: src}
	v, err := d.document()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrEnvelope, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%w: not a JSON object", ErrEnvelope)
	}
	if err := ev.fill(m); err != nil {
		return fmt.Errorf("%w: %v", ErrEnvelope, err)
	}
	return nil
}

// fill sets ev's fields from a decoded envelope. Absent and null fields
// leave their field zero; unknown fields are ignored.
func (ev *Event) fill(m map[string]any) error {
	if v, ok := m["abi"].(json.Number); ok {
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return fmt.Errorf("abi %s is not an integer", v)
		}
		ev.ABI = n
	} else if m["abi"] != nil {
		return errors.New("abi is not a number")
	}
	for _, err := range []error{
		str(m, "hook", &ev.Hook), str(m, "stage", &ev.Stage), str(m, "type", &ev.Type), str(m, "id", &ev.ID),
		object(m, "data", &ev.Data), object(m, "previous", &ev.Previous),
	} {
		if err != nil {
			return err
		}
	}
	ev.Config = m["config"]
	switch p := m["principal"].(type) {
	case nil:
	case map[string]any:
		if err := str(p, "id", &ev.Principal.ID); err != nil {
			return fmt.Errorf("principal: %w", err)
		}
		switch roles := p["roles"].(type) {
		case nil:
		case []any:
			ev.Principal.Roles = make([]string, len(roles))
			for i, r := range roles {
				s, ok := r.(string)
				if !ok {
					return errors.New("principal: roles must be strings")
				}
				ev.Principal.Roles[i] = s
			}
		default:
			return errors.New("principal: roles is not an array")
		}
	default:
		return errors.New("principal is not an object")
	}
	switch r := m["request"].(type) {
	case nil:
	case map[string]any:
		if err := str(r, "id", &ev.Request.ID); err != nil {
			return fmt.Errorf("request: %w", err)
		}
		if err := str(r, "time", &ev.Request.Time); err != nil {
			return fmt.Errorf("request: %w", err)
		}
	default:
		return errors.New("request is not an object")
	}
	return nil
}

// str sets *dst to m[key] if it is a string; null or absent leaves it.
func str(m map[string]any, key string, dst *string) error {
	switch v := m[key].(type) {
	case nil:
	case string:
		*dst = v
	default:
		return fmt.Errorf("%s is not a string", key)
	}
	return nil
}

// object sets *dst to m[key] if it is an object; null or absent leaves it.
func object(m map[string]any, key string, dst *map[string]any) error {
	switch v := m[key].(type) {
	case nil:
	case map[string]any:
		*dst = v
	default:
		return fmt.Errorf("%s is not an object", key)
	}
	return nil
}

// decoder decodes one JSON text into the values encoding/json produces with
// UseNumber: map[string]any, []any, string, json.Number, bool and nil.
type decoder struct {
	src   []byte
	i     int
	depth int
	buf   []byte // scratch for strings with escapes
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", d.i, fmt.Sprintf(format, args...))
}

// document decodes the whole input: one value and nothing after it.
func (d *decoder) document() (any, error) {
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.ws()
	if d.i != len(d.src) {
		return nil, d.errorf("data after the value")
	}
	return v, nil
}

func (d *decoder) ws() {
	for d.i < len(d.src) {
		switch d.src[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value() (any, error) {
	d.ws()
	if d.i >= len(d.src) {
		return nil, d.errorf("unexpected end of input")
	}
	switch c := d.src[d.i]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.string()
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	default:
		return nil, d.errorf("unexpected %q", c)
	}
}

func (d *decoder) literal(lit string) error {
	if !bytes.HasPrefix(d.src[d.i:], []byte(lit)) {
		return d.errorf("invalid literal")
	}
	d.i += len(lit)
	return nil
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > maxDepth {
		return d.errorf("nested deeper than %d", maxDepth)
	}
	return nil
}

func (d *decoder) object() (map[string]any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.i++ // '{'
	m := map[string]any{}
	d.ws()
	if d.i < len(d.src) && d.src[d.i] == '}' {
		d.i++
		d.depth--
		return m, nil
	}
	for {
		d.ws()
		if d.i >= len(d.src) || d.src[d.i] != '"' {
			return nil, d.errorf("expected a key")
		}
		k, err := d.string()
		if err != nil {
			return nil, err
		}
		d.ws()
		if d.i >= len(d.src) || d.src[d.i] != ':' {
			return nil, d.errorf("expected ':'")
		}
		d.i++
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.ws()
		if d.i >= len(d.src) {
			return nil, d.errorf("unexpected end of input")
		}
		switch d.src[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			d.depth--
			return m, nil
		default:
			return nil, d.errorf("expected ',' or '}'")
		}
	}
}

func (d *decoder) array() ([]any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.i++ // '['
	a := []any{}
	d.ws()
	if d.i < len(d.src) && d.src[d.i] == ']' {
		d.i++
		d.depth--
		return a, nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.ws()
		if d.i >= len(d.src) {
			return nil, d.errorf("unexpected end of input")
		}
		switch d.src[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			d.depth--
			return a, nil
		default:
			return nil, d.errorf("expected ',' or ']'")
		}
	}
}

// string decodes the string at d.i (a '"'), as encoding/json does: invalid
// UTF-8 and unpaired surrogates become U+FFFD.
func (d *decoder) string() (string, error) {
	d.i++ // '"'
	start := d.i
	// Fast path: printable ASCII without escapes.
	for d.i < len(d.src) {
		c := d.src[d.i]
		if c == '"' {
			s := string(d.src[start:d.i])
			d.i++
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		d.i++
	}
	b := append(d.buf[:0], d.src[start:d.i]...)
	for d.i < len(d.src) {
		c := d.src[d.i]
		switch {
		case c == '"':
			d.i++
			d.buf = b
			return string(b), nil
		case c < 0x20:
			return "", d.errorf("control character in string")
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d.src[d.i:])
			d.i += size
			b = utf8.AppendRune(b, r) // RuneError for invalid bytes, as encoding/json
		case c != '\\':
			b = append(b, c)
			d.i++
		default:
			if d.i+1 >= len(d.src) {
				return "", d.errorf("unexpected end of input")
			}
			e := d.src[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := hex4(d.src[d.i:])
				if !ok {
					return "", d.errorf("invalid \\u escape")
				}
				d.i += 4
				if utf16.IsSurrogate(r) {
					if r2, ok := lowSurrogate(d.src[d.i:]); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							d.i += 6
							b = utf8.AppendRune(b, dec)
							continue
						}
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", d.errorf("invalid escape \\%c", e)
			}
		}
	}
	return "", d.errorf("unterminated string")
}

// hex4 decodes the four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// lowSurrogate decodes a \uXXXX escape at the start of b.
func lowSurrogate(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	return hex4(b[2:])
}

func (d *decoder) number() (json.Number, error) {
	start := d.i
	if d.src[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.src) && d.src[d.i] == '0':
		d.i++
	case d.digits() == 0:
		return "", d.errorf("invalid number")
	}
	if d.i < len(d.src) && d.src[d.i] == '.' {
		d.i++
		if d.digits() == 0 {
			return "", d.errorf("invalid number")
		}
	}
	if d.i < len(d.src) && (d.src[d.i] == 'e' || d.src[d.i] == 'E') {
		d.i++
		if d.i < len(d.src) && (d.src[d.i] == '+' || d.src[d.i] == '-') {
			d.i++
		}
		if d.digits() == 0 {
			return "", d.errorf("invalid number")
		}
	}
	return json.Number(d.src[start:d.i]), nil
}

func (d *decoder) digits() int {
	start := d.i
	for d.i < len(d.src) && '0' <= d.src[d.i] && d.src[d.i] <= '9' {
		d.i++
	}
	return d.i - start
}

// appendOutput appends out as encoding/json would encode it.
func appendOutput(b []byte, out *Output) ([]byte, error) {
	b = append(b, `{"allow":`...)
	b = strconv.AppendBool(b, out.Allow)
	if len(out.Errors) > 0 {
		b = append(b, `,"errors":[`...)
		for i, e := range out.Errors {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"path":`...)
			b = appendString(b, e.Path)
			b = append(b, `,"message":`...)
			b = appendString(b, e.Message)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	var err error
	if out.Data != nil {
		b = append(b, `,"data":`...)
		if b, err = appendValue(b, out.Data); err != nil {
			return nil, err
		}
	}
	if len(out.Events) > 0 {
		b = append(b, `,"events":[`...)
		for i, e := range out.Events {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":`...)
			b = appendString(b, e.Type)
			if e.Data != nil {
				b = append(b, `,"data":`...)
				if b, err = appendValue(b, e.Data); err != nil {
					return nil, err
				}
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// appendValue appends v as encoding/json would encode it (without HTML
// escaping), handling the types decoding produces and the common Go ones
// itself.
func appendValue(b []byte, v any) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case json.Number:
		if v == "" {
			return append(b, '0'), nil
		}
		d := decoder{src: []byte(v)}
		if _, err := d.number(); err != nil || d.i != len(v) {
			return nil, fmt.Errorf("hookguest: invalid number literal %q", string(v))
		}
		return append(b, v...), nil
	case float64:
		return appendFloat(b, v, 64)
	case float32:
		return appendFloat(b, float64(v), 32)
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(v), 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case map[string]any:
		if v == nil {
			return append(b, "null"...), nil
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			if b, err = appendValue(b, v[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		if v == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case []string:
		if v == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']'), nil
	default:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return nil, fmt.Errorf("hookguest: encode output: %w", err)
		}
		return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
	}
}

// appendFloat formats f as encoding/json does.
func appendFloat(b []byte, f float64, bits int) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("hookguest: unsupported value %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s quoted as encoding/json does without HTML
// escaping: invalid UTF-8 becomes U+FFFD, U+2028 and U+2029 are escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
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
