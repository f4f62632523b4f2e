package index

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/tidwall/gjson"

	"github.com/strata-dev/strata/core"
)

// Names of the meta fields in the index. They sit beside the top-level data
// fields; a top-level data property with one of these names is not indexed
// (the meta field wins, as it does in filter expressions).
const (
	// FieldID is bleve's own document id field: match ids with
	// bleve.NewDocIDQuery, sort with the key "_id" (search.SortDocID). It is not part of the mapping
	// and not part of the value Document returns.
	FieldID        = "_id"
	FieldCreatedAt = "created_at" // datetime
	FieldUpdatedAt = "updated_at" // datetime
	FieldCreatedBy = "created_by" // keyword
	FieldUpdatedBy = "updated_by" // keyword

	// FieldDeleted is true for soft-deleted resources, which lists leave
	// out unless asked to include them.
	FieldDeleted = "_deleted" // boolean

	// FieldText is the object holding the full-text copy of each search
	// field: search field f is indexed, analysed, as TextField(f).
	FieldText = "_text"

	// FieldHas holds, as keyword terms, the paths (data paths and meta
	// fields) at which a resource has a value other than null: "= null"
	// and "!= null" are one term each, and exact for every value.
	FieldHas = "_has"
	// FieldStr holds the scalar paths at which a resource has a string
	// value, which ~, !~ and comparisons with "" need.
	FieldStr = "_str"
	// FieldRange is the object holding the coarse terms of numbers and
	// date-times: the number at path p is indexed at shift 0 in p and at
	// the other shifts in RangeField(p).
	FieldRange = "_range"
)

// TextAnalyzer is the analyzer of full-text fields (English: unicode
// tokens, lower case, possessives and stop words removed, Porter stemming).
const TextAnalyzer = en.AnalyzerName

// KeywordAnalyzer is the analyzer of exact string fields and the index's
// default analyzer: the whole value is one term.
const KeywordAnalyzer = keyword.Name

// reserved lists the top-level names taken by meta and text fields.
var reserved = []string{FieldID, FieldCreatedAt, FieldUpdatedAt, FieldCreatedBy, FieldUpdatedBy, FieldText, FieldDeleted, FieldHas, FieldStr, FieldRange, FieldWords}

// TextField returns the name of the full-text field of search field f.
func TextField(f string) string { return FieldText + "." + f }

// Mapping returns the explicit, static bleve mapping of a type, derived
// from its JSON Schema and search fields: the fields the documents of
// Document hold, with their analyzers and doc values. The layout is
// described in the package documentation. Fields not in the schema are not
// indexed.
//
// Documents are built by Document rather than through the mapping, so the
// mapping's numeric and date-time fields describe fields that Document
// indexes with its own precision step (see the package documentation);
// bleve's numeric and date range queries do not apply to them.
//
// Mapping reads only t.Schema and t.Search. It returns an error if the
// schema is not JSON; parts of the schema it cannot derive a kind from are
// left out of the mapping rather than rejected.
func Mapping(t core.Type) (mapping.IndexMapping, error) {
	l, err := newLayout(t)
	if err != nil {
		return nil, err
	}
	return l.mapping()
}

func (l *layout) mapping() (mapping.IndexMapping, error) {
	root := bleve.NewDocumentStaticMapping()
	for _, path := range sortedKeys(l.paths) {
		fi := l.paths[path]
		dm := root
		parts := strings.Split(path, ".")
		for _, p := range parts {
			sub := dm.Properties[p]
			if sub == nil {
				sub = bleve.NewDocumentStaticMapping()
				dm.AddSubDocumentMapping(p, sub)
			}
			dm = sub
		}
		dv := fi.docValues
		if fi.keyword || fi.long {
			dm.Fields = append(dm.Fields, keywordMapping(dv))
		}
		if fi.datetime {
			dm.Fields = append(dm.Fields, commonMapping(bleve.NewDateTimeFieldMapping(), dv))
		}
		if fi.numeric {
			dm.Fields = append(dm.Fields, commonMapping(bleve.NewNumericFieldMapping(), dv))
		}
		if fi.boolean {
			dm.Fields = append(dm.Fields, commonMapping(bleve.NewBooleanFieldMapping(), dv))
		}
	}
	if len(l.text) > 0 {
		text := bleve.NewDocumentStaticMapping()
		for _, f := range l.text {
			fm := bleve.NewTextFieldMapping()
			fm.Analyzer = TextAnalyzer
			fm.Store = false
			fm.IncludeInAll = false
			fm.IncludeTermVectors = false // phrases are checked on the stored text
			fm.DocValues = false
			text.AddFieldMappingsAt(f, fm)
		}
		root.AddSubDocumentMapping(FieldText, text)
	}
	words := bleve.NewDocumentStaticMapping()
	for _, path := range sortedKeys(l.paths) {
		if l.paths[path].long {
			words.AddFieldMappingsAt(path, keywordMapping(false))
		}
	}
	if len(words.Properties) > 0 {
		root.AddSubDocumentMapping(FieldWords, words)
	}
	root.AddFieldMappingsAt(FieldCreatedAt, commonMapping(bleve.NewDateTimeFieldMapping(), true))
	root.AddFieldMappingsAt(FieldUpdatedAt, commonMapping(bleve.NewDateTimeFieldMapping(), true))
	root.AddFieldMappingsAt(FieldCreatedBy, keywordMapping(true))
	root.AddFieldMappingsAt(FieldUpdatedBy, keywordMapping(true))
	root.AddFieldMappingsAt(FieldDeleted, commonMapping(bleve.NewBooleanFieldMapping(), false))
	root.AddFieldMappingsAt(FieldHas, keywordMapping(false))
	root.AddFieldMappingsAt(FieldStr, keywordMapping(false))

	im := bleve.NewIndexMapping()
	im.DefaultMapping = root
	im.DefaultAnalyzer = KeywordAnalyzer
	im.IndexDynamic = false
	im.StoreDynamic = false
	im.DocValuesDynamic = false
	// Full-text relevance is BM25, as the search contract promises.
	im.ScoringModel = "bm25"
	if err := im.Validate(); err != nil {
		return nil, fmt.Errorf("index: mapping of type %q: %w", l.def.Name, err)
	}
	return im, nil
}

func keywordMapping(docValues bool) *mapping.FieldMapping {
	fm := commonMapping(bleve.NewKeywordFieldMapping(), docValues)
	fm.Analyzer = KeywordAnalyzer
	return fm
}

func commonMapping(fm *mapping.FieldMapping, docValues bool) *mapping.FieldMapping {
	fm.Store = false
	fm.IncludeInAll = false
	fm.IncludeTermVectors = false
	fm.DocValues = docValues
	return fm
}

// Document returns the bleve document of a resource of type t: its data
// fields as the layout maps them, the meta fields (created_at, updated_at,
// created_by, updated_by; empty ones left out), the deleted flag, the
// markers of present values and the analysed search fields. The id is the
// document's id.
//
// data must be a JSON object (or null, or empty); anything else is an
// error. It is decoded with gjson, field by field, without building a
// generic value.
func Document(t core.Type, id string, data json.RawMessage, meta core.Meta) (*document.Document, error) {
	l, err := newLayout(t)
	if err != nil {
		return nil, err
	}
	return l.document(id, data, meta)
}

func (l *layout) document(id string, data []byte, meta core.Meta) (*document.Document, error) {
	b := &docBuilder{l: l, d: document.NewDocument(id)}
	if len(bytes.TrimSpace(data)) > 0 {
		if !gjson.ValidBytes(data) {
			return nil, fmt.Errorf("index: data of %s/%s is not JSON", l.def.Name, id)
		}
		r := gjson.ParseBytes(data)
		switch {
		case r.Type == gjson.Null:
		case r.IsObject():
			b.object("", r)
		default:
			return nil, fmt.Errorf("index: data of %s/%s is not a JSON object", l.def.Name, id)
		}
	}
	for _, f := range []struct {
		name, v string
	}{{FieldCreatedAt, meta.CreatedAt}, {FieldUpdatedAt, meta.UpdatedAt}} {
		if t, err := time.Parse(time.RFC3339Nano, f.v); err == nil {
			if k, ok := timeKey(t); ok {
				b.numeric(f.name, nil, true, k)
				b.has = append(b.has, []byte(f.name))
			}
		}
	}
	for _, f := range []struct {
		name, v string
	}{{FieldCreatedBy, meta.CreatedBy}, {FieldUpdatedBy, meta.UpdatedBy}} {
		if f.v != "" {
			b.d.AddField(keywordField(f.name, nil, true, []byte(f.v)))
			b.has = append(b.has, []byte(f.name))
			b.str = append(b.str, []byte(f.name))
		}
	}
	b.d.AddField(keywordField(FieldDeleted, nil, false, boolTerm(meta.Deleted)))
	// The markers of one document are one field each, with a term per
	// path: fewer fields make segments cheaper to build.
	if len(b.has) > 0 {
		b.d.AddField(newTermsField(FieldHas, nil, termsOptions, b.has...))
	}
	if len(b.str) > 0 {
		b.d.AddField(newTermsField(FieldStr, nil, termsOptions, b.str...))
	}
	return b.d, nil
}

// docBuilder builds the document of one resource.
type docBuilder struct {
	l        *layout
	d        *document.Document
	has, str [][]byte // the paths of FieldHas and FieldStr
}

func (b *docBuilder) numeric(name string, pos []uint64, docValues bool, v int64) {
	fine, coarse := numericFields(name, pos, docValues, v)
	b.d.AddField(fine)
	b.d.AddField(coarse)
}

// object indexes the properties of a JSON object at prefix.
func (b *docBuilder) object(prefix string, obj gjson.Result) {
	obj.ForEach(func(k, v gjson.Result) bool {
		path := prefix + k.Str
		if fi := b.l.paths[path]; fi != nil {
			b.value(path, fi, v)
		}
		return true
	})
}

// value indexes the value v at path. Only what the filter evaluator can
// see is indexed: an array at a scalar path, or a scalar at an array path,
// compares with nothing, so it is only marked present.
func (b *docBuilder) value(path string, fi *fieldInfo, v gjson.Result) {
	if v.Type == gjson.Null {
		return // missing and null are the same
	}
	if fi.kind != 0 {
		b.has = append(b.has, []byte(path))
	}
	switch {
	case fi.array:
		if v.IsArray() {
			b.array(path, fi, v)
		}
	case v.IsObject():
		if fi.props {
			b.object(path+".", v)
		}
	case v.IsArray():
	default:
		b.scalar(path, fi, v, nil)
	}
}

// array indexes the elements of an array: the keyword terms of all its
// strings in one field (queries on arrays only ask whether an element
// has a term), the rest element by element.
func (b *docBuilder) array(path string, fi *fieldInfo, v gjson.Result) {
	var keywords [][]byte
	i := uint64(0)
	v.ForEach(func(_, el gjson.Result) bool {
		if el.Type == gjson.String && fi.keyword {
			keywords = append(keywords, []byte(fi.strPrefix+el.Str))
		}
		b.scalar(path, &fieldInfo{kind: fi.kind, numeric: fi.numeric, boolean: fi.boolean, text: fi.text, array: true}, el, []uint64{i})
		i++
		return true
	})
	if len(keywords) > 0 {
		b.d.AddField(newTermsField(path, nil, termsOptions, keywords...))
	}
}

// scalar indexes one scalar value (an array element when pos is set).
func (b *docBuilder) scalar(path string, fi *fieldInfo, v gjson.Result, pos []uint64) {
	switch v.Type {
	case gjson.String:
		if fi.keyword {
			b.d.AddField(keywordField(path, pos, fi.docValues, []byte(fi.strPrefix+v.Str)))
			if pos == nil {
				b.str = append(b.str, []byte(path))
			}
		}
		if fi.datetime {
			if t, err := time.Parse(time.RFC3339Nano, v.Str); err == nil {
				if k, ok := timeKey(t); ok {
					b.numeric(path, pos, fi.docValues, k)
				}
			}
		}
		if fi.text {
			tf := document.NewTextFieldCustom(TextField(path), pos, []byte(v.Str), textOptions, textAnalyzer())
			b.d.AddField(tf)
			if fi.long && pos == nil {
				b.d.AddField(keywordField(path, nil, fi.docValues, prefixTerm(v.Str)))
				// After tf, whose terms it needs.
				b.d.AddField(&wordsField{name: WordsField(path), text: tf, value: v.Str})
				b.str = append(b.str, []byte(path))
			}
		}
	case gjson.Number:
		if fi.numeric {
			b.numeric(path, pos, fi.docValues, numberKey(v.Num))
		}
	case gjson.True, gjson.False:
		if fi.boolean {
			b.d.AddField(keywordField(path, pos, fi.docValues, boolTerm(v.Type == gjson.True)))
		}
	}
}

// shape is what indexing needs to know of a schema: the kinds its values
// may have, whether they may be arrays (then the kinds are the items'),
// and the properties of objects.
type shape struct {
	str, dateTime, num, boolean bool
	array                       bool
	props                       map[string]any
	maxLength                   float64 // the schema's own maxLength; 0 when unset
}

// resolve derives the shape of a schema. It reads type (a string or a
// list; "null" adds nothing), format, properties, items, prefixItems,
// enum and const, and unions the branches of anyOf, oneOf and allOf. It
// does not follow $ref: such parts are not indexed.
func resolve(s any) shape {
	var sh shape
	m, ok := s.(map[string]any)
	if !ok {
		return sh // true, false or garbage: nothing to index
	}
	if f, _ := m["format"].(string); f == "date-time" {
		sh.dateTime = true
	}
	if n, ok := m["maxLength"].(float64); ok && n >= 0 {
		sh.maxLength = n
	}
	var types []string
	switch ty := m["type"].(type) {
	case string:
		types = []string{ty}
	case []any:
		for _, v := range ty {
			if s, ok := v.(string); ok {
				types = append(types, s)
			}
		}
	}
	if props, ok := m["properties"].(map[string]any); ok {
		sh.props = props
	}
	if m["type"] == nil {
		var values []any
		if e, ok := m["enum"].([]any); ok {
			values = e
		}
		if c, ok := m["const"]; ok {
			values = append(values, c)
		}
		for _, v := range values {
			switch v.(type) {
			case string:
				sh.str = true
			case float64:
				sh.num = true
			case bool:
				sh.boolean = true
			}
		}
	}
	for _, ty := range types {
		switch ty {
		case "string":
			sh.str = true
		case "number", "integer":
			sh.num = true
		case "boolean":
			sh.boolean = true
		case "array":
			var items []any
			if it, ok := m["items"]; ok {
				items = append(items, it)
			}
			if pi, ok := m["prefixItems"].([]any); ok {
				items = append(items, pi...)
			}
			for _, it := range items {
				sh.merge(resolve(it))
			}
			sh.array = true
		}
	}
	for _, key := range []string{"anyOf", "oneOf", "allOf"} {
		branches, _ := m[key].([]any)
		for _, b := range branches {
			sh.merge(resolve(b))
		}
	}
	return sh
}

// merge adds the kinds and properties of o to sh. Of a property named on
// both sides, sh's schema wins.
func (sh *shape) merge(o shape) {
	sh.str = sh.str || o.str
	sh.dateTime = sh.dateTime || o.dateTime
	sh.num = sh.num || o.num
	sh.boolean = sh.boolean || o.boolean
	sh.array = sh.array || o.array
	if len(o.props) > 0 {
		merged := make(map[string]any, len(sh.props)+len(o.props))
		for k, v := range o.props {
			merged[k] = v
		}
		for k, v := range sh.props {
			merged[k] = v
		}
		sh.props = merged
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
