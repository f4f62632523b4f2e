package index

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/mapping"

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
)

// TextAnalyzer is the analyzer of full-text fields (English: unicode
// tokens, lower case, possessives and stop words removed, Porter stemming).
const TextAnalyzer = en.AnalyzerName

// KeywordAnalyzer is the analyzer of exact string fields and the index's
// default analyzer: the whole value is one term.
const KeywordAnalyzer = keyword.Name

// reserved lists the top-level names taken by meta and text fields.
var reserved = []string{FieldID, FieldCreatedAt, FieldUpdatedAt, FieldCreatedBy, FieldUpdatedBy, FieldText, FieldDeleted}

// TextField returns the name of the full-text field of search field f.
func TextField(f string) string { return FieldText + "." + f }

// Mapping returns the explicit, static bleve mapping of a type, derived
// from its JSON Schema and search fields. The layout is described in the
// package documentation. Fields not in the schema are not indexed.
//
// Mapping reads only t.Schema and t.Search. It returns an error if the
// schema is not JSON; parts of the schema it cannot derive a kind from are
// left out of the mapping rather than rejected.
func Mapping(t core.Type) (mapping.IndexMapping, error) {
	var schema any
	if err := json.Unmarshal(t.Schema, &schema); err != nil {
		return nil, fmt.Errorf("index: schema of type %q: %w", t.Name, err)
	}
	root := bleve.NewDocumentStaticMapping()
	sh := resolve(schema)
	for _, name := range sortedKeys(sh.props) {
		if slices.Contains(reserved, name) {
			continue
		}
		addProperty(root, name, resolve(sh.props[name]), false)
	}

	text := bleve.NewDocumentStaticMapping()
	for _, f := range t.Search {
		if slices.Contains(reserved, f) || strings.Contains(f, ".") {
			continue
		}
		if fsh := resolve(sh.props[f]); fsh.str && text.Properties[f] == nil {
			fm := bleve.NewTextFieldMapping()
			fm.Analyzer = TextAnalyzer
			fm.Store = false
			fm.IncludeInAll = false
			fm.IncludeTermVectors = true // phrase queries and highlighting
			fm.DocValues = false
			text.AddFieldMappingsAt(f, fm)
		}
	}
	if len(text.Properties) > 0 {
		root.AddSubDocumentMapping(FieldText, text)
	}

	root.AddFieldMappingsAt(FieldCreatedAt, dateTimeField(true))
	root.AddFieldMappingsAt(FieldUpdatedAt, dateTimeField(true))
	root.AddFieldMappingsAt(FieldCreatedBy, keywordField(true))
	root.AddFieldMappingsAt(FieldUpdatedBy, keywordField(true))
	deleted := bleve.NewBooleanFieldMapping()
	setCommon(deleted, false)
	root.AddFieldMappingsAt(FieldDeleted, deleted)

	im := bleve.NewIndexMapping()
	im.DefaultMapping = root
	im.DefaultAnalyzer = KeywordAnalyzer
	im.IndexDynamic = false
	im.StoreDynamic = false
	im.DocValuesDynamic = false
	// Full-text relevance is BM25, as the search contract promises.
	im.ScoringModel = "bm25"
	if err := im.Validate(); err != nil {
		return nil, fmt.Errorf("index: mapping of type %q: %w", t.Name, err)
	}
	return im, nil
}

// Document returns the value to index for a resource of type t: its data
// with the meta fields (created_at, updated_at, created_by, updated_by;
// empty ones left out) set at the top level, replacing data properties of
// the same names, and the search fields copied under FieldText. The id is
// not part of the value: pass it to bleve's Index as the document id.
//
// data must be a JSON object (or null, or empty); anything else is an
// error. Numbers are decoded as float64, bleve's only numeric kind.
func Document(t core.Type, id string, data json.RawMessage, meta core.Meta) (map[string]any, error) {
	doc := map[string]any{}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("index: data of %s/%s: %w", t.Name, id, err)
		}
		if doc == nil { // JSON null
			doc = map[string]any{}
		}
	}
	for _, name := range reserved {
		delete(doc, name)
	}
	text := map[string]any{}
	for _, f := range t.Search {
		if v, ok := doc[f]; ok && v != nil {
			text[f] = v
		}
	}
	if len(text) > 0 {
		doc[FieldText] = text
	}
	doc[FieldDeleted] = meta.Deleted
	for name, v := range map[string]string{
		FieldCreatedAt: meta.CreatedAt,
		FieldUpdatedAt: meta.UpdatedAt,
		FieldCreatedBy: meta.CreatedBy,
		FieldUpdatedBy: meta.UpdatedBy,
	} {
		if v != "" {
			doc[name] = v
		}
	}
	return doc, nil
}

// addProperty maps the property name of dm with shape sh. inArray is true
// below an array, where values are multi-valued and get no doc values.
func addProperty(dm *mapping.DocumentMapping, name string, sh shape, inArray bool) {
	if name == "" || strings.Contains(name, ".") {
		return // bleve separates path elements with dots
	}
	multi := inArray || sh.array
	var fields []*mapping.FieldMapping
	if sh.str {
		if sh.dateTime {
			fields = append(fields, dateTimeField(!multi))
		} else {
			fields = append(fields, keywordField(!multi))
		}
	}
	if sh.num {
		fm := bleve.NewNumericFieldMapping()
		setCommon(fm, !multi)
		fields = append(fields, fm)
	}
	if sh.boolean {
		fm := bleve.NewBooleanFieldMapping()
		setCommon(fm, !multi)
		fields = append(fields, fm)
	}
	var sub *mapping.DocumentMapping
	if len(sh.props) > 0 {
		sub = bleve.NewDocumentStaticMapping()
		for _, p := range sortedKeys(sh.props) {
			addProperty(sub, p, resolve(sh.props[p]), multi)
		}
		if len(sub.Properties) == 0 {
			sub = nil
		}
	}
	if len(fields) == 0 && sub == nil {
		return
	}
	if sub == nil {
		sub = bleve.NewDocumentStaticMapping()
	}
	sub.Fields = append(sub.Fields, fields...)
	dm.AddSubDocumentMapping(name, sub)
}

func keywordField(docValues bool) *mapping.FieldMapping {
	fm := bleve.NewKeywordFieldMapping()
	fm.Analyzer = KeywordAnalyzer
	setCommon(fm, docValues)
	return fm
}

func dateTimeField(docValues bool) *mapping.FieldMapping {
	fm := bleve.NewDateTimeFieldMapping()
	setCommon(fm, docValues)
	return fm
}

func setCommon(fm *mapping.FieldMapping, docValues bool) {
	fm.Store = false
	fm.IncludeInAll = false
	fm.IncludeTermVectors = false
	fm.DocValues = docValues
}

// shape is what indexing needs to know of a schema: the kinds its values
// may have, whether they may be arrays (then the kinds are the items'),
// and the properties of objects.
type shape struct {
	str, dateTime, num, boolean bool
	array                       bool
	props                       map[string]any
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

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
