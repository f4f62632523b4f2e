package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/strata-dev/strata/internal/jsonnum"
)

// The records read and written on every request (meta, revision info, the
// envelope) are encoded by hand and decoded with gjson: reflection-based
// encoding/json was most of the CPU time of a read. Resource data is never
// decoded on a read: it is stored canonical and spliced into responses.

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as with encoding/json, so the output is always valid JSON.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigit[c>>4], hexDigit[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript parsers.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigit[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigit = "0123456789abcdef"

// noHooks is the shared empty list: it encodes as [] and, having no
// capacity, is never appended to in place.
var noHooks = []HookApproval{}

func appendKey(dst []byte, first bool, key string) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

// appendFields appends the members of Meta, without braces.
func (m *Meta) appendFields(dst []byte) []byte {
	dst = appendKey(dst, true, "current_revision")
	dst = strconv.AppendInt(dst, int64(m.CurrentRevision), 10)
	dst = appendKey(dst, false, "revision_count")
	dst = strconv.AppendInt(dst, int64(m.RevisionCount), 10)
	dst = appendKey(dst, false, "created_at")
	dst = appendString(dst, m.CreatedAt)
	if m.CreatedBy != "" {
		dst = appendKey(dst, false, "created_by")
		dst = appendString(dst, m.CreatedBy)
	}
	dst = appendKey(dst, false, "updated_at")
	dst = appendString(dst, m.UpdatedAt)
	if m.UpdatedBy != "" {
		dst = appendKey(dst, false, "updated_by")
		dst = appendString(dst, m.UpdatedBy)
	}
	dst = appendKey(dst, false, "deleted")
	dst = appendBool(dst, m.Deleted)
	dst = appendKey(dst, false, "schema_version")
	return strconv.AppendInt(dst, int64(m.SchemaVersion), 10)
}

// MarshalJSON encodes the meta as in the envelope.
func (m Meta) MarshalJSON() ([]byte, error) {
	return append(m.appendFields([]byte{'{'}), '}'), nil
}

// setField decodes one member of Meta; it reports false for other keys.
func (m *Meta) setField(key string, v gjson.Result) bool {
	switch key {
	case "current_revision":
		m.CurrentRevision = int(v.Int())
	case "revision_count":
		m.RevisionCount = int(v.Int())
	case "created_at":
		m.CreatedAt = v.String()
	case "created_by":
		m.CreatedBy = v.String()
	case "updated_at":
		m.UpdatedAt = v.String()
	case "updated_by":
		m.UpdatedBy = v.String()
	case "deleted":
		m.Deleted = v.Bool()
	case "schema_version":
		m.SchemaVersion = int(v.Int())
	default:
		return false
	}
	return true
}

// AppendJSON appends the revision as in the envelope.
func (r *Revision) AppendJSON(dst []byte) []byte {
	dst = appendKey(append(dst, '{'), true, "number")
	dst = strconv.AppendInt(dst, int64(r.Number), 10)
	dst = appendKey(dst, false, "parent")
	if r.Parent == nil {
		dst = append(dst, "null"...)
	} else {
		dst = strconv.AppendInt(dst, int64(*r.Parent), 10)
	}
	dst = appendKey(dst, false, "created_at")
	dst = appendString(dst, r.CreatedAt)
	if r.CreatedBy != "" {
		dst = appendKey(dst, false, "created_by")
		dst = appendString(dst, r.CreatedBy)
	}
	dst = appendKey(dst, false, "data_hash")
	dst = appendString(dst, r.DataHash)
	dst = appendKey(dst, false, "action")
	dst = appendString(dst, r.Action)
	dst = appendKey(dst, false, "hooks")
	dst = append(dst, '[')
	for i, h := range r.Hooks {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendKey(append(dst, '{'), true, "name")
		dst = appendString(dst, h.Name)
		dst = appendKey(dst, false, "stage")
		dst = appendString(dst, h.Stage)
		dst = appendKey(dst, false, "sha256")
		dst = appendString(dst, h.SHA256)
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	dst = appendKey(dst, false, "schema_version")
	dst = strconv.AppendInt(dst, int64(r.SchemaVersion), 10)
	return append(dst, '}')
}

// MarshalJSON encodes the revision as in the envelope.
func (r Revision) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// decodeRevision decodes a revision as AppendJSON writes it.
func decodeRevision(raw []byte) (Revision, error) {
	// Records are written by encodeMeta and AppendJSON only, so they are
	// parsed without a separate validation pass; gjson is safe on any input.
	if len(raw) == 0 || raw[0] != '{' {
		return Revision{}, fmt.Errorf("revision record is not a JSON object")
	}
	if r, ok := scanRevision(raw); ok {
		return r, nil
	}
	return decodeRevisionSlow(raw), nil
}

// decodeRevisionSlow decodes any revision gjson reads.
func decodeRevisionSlow(raw []byte) Revision {
	var r Revision
	gjson.ParseBytes(raw).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "number":
			r.Number = int(v.Int())
		case "parent":
			if v.Type == gjson.Number {
				p := int(v.Int())
				r.Parent = &p
			}
		case "created_at":
			r.CreatedAt = v.String()
		case "created_by":
			r.CreatedBy = v.String()
		case "data_hash":
			r.DataHash = v.String()
		case "action":
			r.Action = v.String()
		case "hooks":
			v.ForEach(func(_, h gjson.Result) bool {
				r.Hooks = append(r.Hooks, HookApproval{Name: h.Get("name").String(), Stage: h.Get("stage").String(), SHA256: h.Get("sha256").String()})
				return true
			})
		case "schema_version":
			r.SchemaVersion = int(v.Int())
		}
		return true
	})
	if r.Hooks == nil {
		r.Hooks = noHooks
	}
	return r
}

// AppendJSON appends the envelope of the resource. Data is spliced in as
// stored: it is canonical JSON already.
func (r *Resource) AppendJSON(dst []byte) []byte {
	dst = appendKey(append(dst, '{'), true, "id")
	dst = appendString(dst, r.ID)
	dst = appendKey(dst, false, "type")
	dst = appendString(dst, r.Type)
	dst = appendKey(dst, false, "data")
	dst = append(dst, r.Data...)
	dst = appendKey(dst, false, "meta")
	dst = append(r.Meta.appendFields(append(dst, '{')), '}')
	dst = appendKey(dst, false, "revision")
	dst = r.Revision.AppendJSON(dst)
	if len(r.Expand) > 0 {
		dst = appendKey(dst, false, "expand")
		dst = append(dst, '{')
		for i, f := range slices.Sorted(maps.Keys(r.Expand)) {
			dst = appendKey(dst, i == 0, f)
			dst = r.Expand[f].AppendJSON(dst)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// MarshalJSON encodes the envelope.
func (r *Resource) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(make([]byte, 0, len(r.Data)+400)), nil
}

// encodeMeta encodes a meta record for storage: the public members, then
// the bookkeeping ones.
func encodeMeta(m *metaRecord) []byte {
	dst := m.Meta.appendFields(append(make([]byte, 0, 320), '{'))
	dst = appendKey(dst, false, "hash")
	dst = appendString(dst, m.Hash)
	dst = appendKey(dst, false, "created_ms")
	dst = strconv.AppendInt(dst, m.CreatedMS, 10)
	if len(m.Unique) > 0 {
		dst = appendKey(dst, false, "unique")
		dst = append(dst, '[')
		for i, u := range m.Unique {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, u)
		}
		dst = append(dst, ']')
	}
	if len(m.Refs) > 0 {
		dst = appendKey(dst, false, "refs")
		dst = append(dst, '{')
		for i, f := range slices.Sorted(maps.Keys(m.Refs)) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(appendString(dst, f), ':')
			dst = appendString(dst, m.Refs[f])
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

func decodeMeta(raw []byte) (*metaRecord, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fmt.Errorf("meta record is not a JSON object")
	}
	if m, ok := scanMeta(raw); ok {
		return m, nil
	}
	return decodeMetaSlow(raw), nil
}

// decodeMetaSlow decodes any meta record gjson reads.
func decodeMetaSlow(raw []byte) *metaRecord {
	m := &metaRecord{}
	gjson.ParseBytes(raw).ForEach(func(k, v gjson.Result) bool {
		if m.Meta.setField(k.Str, v) {
			return true
		}
		switch k.Str {
		case "hash":
			m.Hash = v.String()
		case "created_ms":
			m.CreatedMS = v.Int()
		case "unique":
			v.ForEach(func(_, u gjson.Result) bool {
				m.Unique = append(m.Unique, u.String())
				return true
			})
		case "refs":
			m.Refs = map[string]string{}
			v.ForEach(func(f, id gjson.Result) bool {
				m.Refs[f.String()] = id.String()
				return true
			})
		}
		return true
	})
	return m
}

// appendChange appends a change-log record: the members of Change in
// order, as encoding/json writes them (id, by and event omitted when
// empty). An event's data must be compact, valid JSON (checkEventData).
func appendChange(dst []byte, c *Change) []byte {
	dst = appendKey(append(dst, '{'), true, "seq")
	dst = strconv.AppendUint(dst, c.Seq, 10)
	dst = appendKey(dst, false, "type")
	dst = appendString(dst, c.Type)
	if c.ID != "" {
		dst = appendKey(dst, false, "id")
		dst = appendString(dst, c.ID)
	}
	dst = appendKey(dst, false, "action")
	dst = appendString(dst, c.Action)
	dst = appendKey(dst, false, "revision")
	dst = strconv.AppendInt(dst, int64(c.Revision), 10)
	dst = appendKey(dst, false, "at")
	dst = appendString(dst, c.At)
	if c.By != "" {
		dst = appendKey(dst, false, "by")
		dst = appendString(dst, c.By)
	}
	if c.Event != nil {
		dst = appendKey(dst, false, "event")
		dst = appendKey(append(dst, '{'), true, "type")
		dst = appendString(dst, c.Event.Type)
		dst = appendKey(dst, false, "data")
		if len(c.Event.Data) == 0 {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, c.Event.Data...)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// decodeChange decodes a change-log record, as appendChange (or, in
// stores written before it, encoding/json) wrote it. The index follows
// the change log page by page, so this is on the path of every write.
func decodeChange(raw []byte) (Change, error) {
	var c Change
	if len(raw) == 0 || raw[0] != '{' {
		return c, fmt.Errorf("change record is not a JSON object")
	}
	gjson.ParseBytes(raw).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "seq":
			c.Seq = v.Uint()
		case "type":
			c.Type = v.String()
		case "id":
			c.ID = v.String()
		case "action":
			c.Action = v.String()
		case "revision":
			c.Revision = int(v.Int())
		case "at":
			c.At = v.String()
		case "by":
			c.By = v.String()
		case "event":
			ev := &ChangeEvent{Type: v.Get("type").String(), Data: json.RawMessage("null")}
			if d := v.Get("data"); d.Exists() {
				ev.Data = json.RawMessage(d.Raw)
			}
			c.Event = ev
		}
		return true
	})
	return c, nil
}

// A stored revision is its info, a newline, then its data. encoding of the
// info never contains a raw newline, so the first one separates them.
func encodeRevisionRecord(r *revisionRecord) []byte {
	dst := r.Revision.AppendJSON(make([]byte, 0, len(r.Data)+256))
	dst = append(dst, '\n')
	return append(dst, r.Data...)
}

// decodeRevisionRecord decodes a stored revision. Data aliases raw; the
// info does not (gjson parses a copy).
func decodeRevisionRecord(raw []byte) (*revisionRecord, error) {
	i := bytes.IndexByte(raw, '\n')
	if i < 0 {
		return nil, fmt.Errorf("revision record has no data")
	}
	info, err := decodeRevision(raw[:i])
	if err != nil {
		return nil, err
	}
	return &revisionRecord{Revision: info, Data: raw[i+1:]}, nil
}

// decodeJSON parses one JSON document from a client (a body, a patch, a
// hook's output) into generic values, as the schema validator expects:
// numbers are json.Number in canonical form (see internal/jsonnum).
// Invalid UTF-8, lone surrogates and numbers a double cannot hold are
// refused with ErrInvalid, so that nothing is stored other than as sent.
func decodeJSON(raw []byte) (any, error) {
	return decodeWith(raw, true)
}

// decodeStored parses stored data. It never refuses a number: data
// stored before numbers were checked may hold one a double cannot, and
// such a number is kept as written.
func decodeStored(raw []byte) (any, error) {
	return decodeWith(raw, false)
}

func decodeWith(raw []byte, strict bool) (any, error) {
	if err := checkJSON(raw); err != nil {
		return nil, err
	}
	if !gjson.ValidBytes(raw) {
		// The slow decoder finds the position of the error for the client.
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, jsonError(err)
		}
		return nil, errorf(ErrInvalid, "malformed JSON")
	}
	d := decoder{strict: strict}
	v := d.value(gjson.ParseBytes(raw))
	if d.err != nil {
		slices.Reverse(d.errPath)
		return nil, fieldError(ErrInvalid, "a number cannot be stored exactly",
			FieldError{Path: pointer(d.errPath), Message: d.err.Error()})
	}
	return v, nil
}

// decoder turns a gjson value into generic values. A refused number stops
// it; the path to the number is gathered, innermost first, while the
// recursion unwinds, so that decoding costs nothing for paths.
type decoder struct {
	strict  bool
	err     error
	errPath []string
}

func (d *decoder) value(r gjson.Result) any {
	switch r.Type {
	case gjson.String:
		return r.Str
	case gjson.Number:
		canon, err := canonicalNumber(r.Raw)
		if err != nil {
			if d.strict {
				d.err = err
			}
			return json.Number(r.Raw)
		}
		return json.Number(canon)
	case gjson.True:
		return true
	case gjson.False:
		return false
	case gjson.JSON:
		if r.IsArray() {
			out := []any{}
			r.ForEach(func(_, v gjson.Result) bool {
				out = append(out, d.value(v))
				if d.err != nil {
					d.errPath = append(d.errPath, strconv.Itoa(len(out)-1))
					return false
				}
				return true
			})
			return out
		}
		out := map[string]any{}
		r.ForEach(func(k, v gjson.Result) bool {
			out[k.Str] = d.value(v)
			if d.err != nil {
				d.errPath = append(d.errPath, k.Str)
				return false
			}
			return true
		})
		return out
	}
	return nil
}

// canonicalNumber is the canonical spelling of a JSON number literal, or
// an error saying why a double cannot hold it.
func canonicalNumber(lit string) (string, error) {
	canon, _, err := jsonnum.Canonical(lit)
	return canon, err
}

// appendCanonical appends v in canonical form: object members sorted by
// key, no insignificant space, numbers in their canonical spelling (a
// number a double cannot hold, only found in old stored data, as
// written).
func appendCanonical(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return appendBool(dst, v), nil
	case string:
		return appendString(dst, v), nil
	case json.Number:
		if canon, err := canonicalNumber(string(v)); err == nil {
			return append(dst, canon...), nil
		}
		return append(dst, v...), nil
	case map[string]any:
		dst = append(dst, '{')
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(appendString(dst, k), ':')
			var err error
			if dst, err = appendCanonical(dst, v[k]); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendCanonical(dst, e); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	}
	// Other Go values (from Go callers) go through encoding/json first.
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	g, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	return appendCanonical(dst, g)
}

// The records Strata writes are flat objects of integers, plain strings
// and booleans, in a form scanRecord reads without gjson, which was a
// fifth of the CPU time of listing a page. Anything else in them (escapes,
// non-ASCII text, nested values other than an empty array, spaces) makes
// the scan give up, and the record is decoded by gjson as before; so the
// scan decodes exactly what gjson would.

// recordValue is a member's value: a string (str, unescaped ASCII), an
// integer (num), a boolean (num 1 or 0), null, or an empty array.
type recordValue struct {
	kind byte // '"', '0', 'b', 'n' or '['
	str  []byte
	num  int64
}

// scanRecord calls fn with each member of the object raw, in order, and
// reports whether raw had the simple form (fn returning false also gives
// up).
func scanRecord(raw []byte, fn func(key []byte, v recordValue) bool) bool {
	if len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return false
	}
	i := 1
	if raw[i] == '}' {
		return i == len(raw)-1
	}
	for {
		key, n, ok := scanPlainString(raw, i)
		if !ok || n >= len(raw) || raw[n] != ':' {
			return false
		}
		i = n + 1
		if i >= len(raw) {
			return false
		}
		var v recordValue
		switch c := raw[i]; {
		case c == '"':
			v.kind = '"'
			if v.str, i, ok = scanPlainString(raw, i); !ok {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			j := i
			if c == '-' {
				j++
			}
			start := j
			for j < len(raw) && raw[j] >= '0' && raw[j] <= '9' {
				j++
			}
			// 1 to 18 digits, no leading zero: no overflow, and the
			// integer gjson reads.
			if d := j - start; d == 0 || d > 18 || d > 1 && raw[start] == '0' {
				return false
			}
			n, err := strconv.ParseInt(string(raw[i:j]), 10, 64)
			if err != nil {
				return false
			}
			v.kind, v.num, i = '0', n, j
		case bytes.HasPrefix(raw[i:], []byte("true")):
			v.kind, v.num, i = 'b', 1, i+4
		case bytes.HasPrefix(raw[i:], []byte("false")):
			v.kind, i = 'b', i+5
		case bytes.HasPrefix(raw[i:], []byte("null")):
			v.kind, i = 'n', i+4
		case bytes.HasPrefix(raw[i:], []byte("[]")):
			v.kind, i = '[', i+2
		default:
			return false
		}
		if !fn(key, v) || i >= len(raw) {
			return false
		}
		switch raw[i] {
		case ',':
			i++
		case '}':
			return i == len(raw)-1
		default:
			return false
		}
	}
}

// scanPlainString reads the string at raw[i] when it is printable ASCII
// without escapes: its bytes and the index after it.
func scanPlainString(raw []byte, i int) ([]byte, int, bool) {
	if i >= len(raw) || raw[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '"':
			return raw[i+1 : j], j + 1, true
		case c < 0x20 || c == '\\' || c >= utf8.RuneSelf:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// scanMeta decodes a meta record of the simple form, each member of the
// kind Strata writes.
func scanMeta(raw []byte) (*metaRecord, bool) {
	m := &metaRecord{}
	ok := scanRecord(raw, func(key []byte, v recordValue) bool {
		var ok bool
		switch string(key) {
		case "current_revision":
			m.CurrentRevision, ok = v.intValue()
		case "revision_count":
			m.RevisionCount, ok = v.intValue()
		case "created_at":
			m.CreatedAt, ok = v.stringValue()
		case "created_by":
			m.CreatedBy, ok = v.stringValue()
		case "updated_at":
			m.UpdatedAt, ok = v.stringValue()
		case "updated_by":
			m.UpdatedBy, ok = v.stringValue()
		case "deleted":
			m.Deleted, ok = v.num == 1, v.kind == 'b'
		case "schema_version":
			m.SchemaVersion, ok = v.intValue()
		case "hash":
			m.Hash, ok = v.stringValue()
		case "created_ms":
			m.CreatedMS, ok = v.num, v.kind == '0'
		default:
			// unique and refs, or a member Strata does not write:
			// gjson reads them.
			return false
		}
		return ok
	})
	return m, ok
}

// scanRevision decodes a revision of the simple form (no hooks), each
// member of the kind Strata writes.
func scanRevision(raw []byte) (Revision, bool) {
	var r Revision
	ok := scanRecord(raw, func(key []byte, v recordValue) bool {
		var ok bool
		switch string(key) {
		case "number":
			r.Number, ok = v.intValue()
		case "parent":
			switch v.kind {
			case '0':
				p := int(v.num)
				r.Parent, ok = &p, true
			case 'n':
				r.Parent, ok = nil, true
			}
		case "created_at":
			r.CreatedAt, ok = v.stringValue()
		case "created_by":
			r.CreatedBy, ok = v.stringValue()
		case "data_hash":
			r.DataHash, ok = v.stringValue()
		case "action":
			r.Action, ok = v.stringValue()
		case "hooks":
			ok = v.kind == '[' // non-empty: gjson reads them
		case "schema_version":
			r.SchemaVersion, ok = v.intValue()
		}
		return ok
	})
	r.Hooks = noHooks
	return r, ok
}

func (v recordValue) intValue() (int, bool) { return int(v.num), v.kind == '0' }

func (v recordValue) stringValue() (string, bool) { return string(v.str), v.kind == '"' }
