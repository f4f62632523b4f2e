// Package index maps Strata resources onto a Bleve full-text index: one
// explicit, static mapping per type, derived from the type's JSON Schema,
// and the value to index for each resource.
//
// Use Mapping once per type (again when its schema version changes) to
// create the index, and Document for each resource:
//
//	m, err := index.Mapping(t)
//	idx, err := bleve.New(dir, m)
//	doc, err := index.Document(t, id, data, meta)
//	err = idx.Index(id, doc)
//
// # Field layout
//
// Every data property is indexed under its dotted path (author.name),
// whatever its depth, by kind:
//
//   - string: a keyword field (KeywordAnalyzer, the whole value one term),
//     so =, != and ?= compare exactly and case-sensitively;
//   - string with format date-time: a datetime field only, no keyword
//     copy; equality is an inclusive range [t, t], which also matches
//     other spellings of the same instant (…00Z and …00.000Z);
//   - number, integer: a numeric field (float64);
//   - boolean: a boolean field;
//   - array: the kinds of its items (items, prefixItems), multi-valued, so
//     a term query on tags matches any element;
//   - object: its properties, recursively.
//
// type may be a list (["string","null"]; null adds nothing). Without type,
// enum and const values give the kinds; anyOf, oneOf and allOf branches
// are unioned. $ref is not followed, and property names containing a dot
// are skipped (bleve separates path elements with dots): such parts are
// not indexed.
//
// Each search field f (a top-level string or string-array property named
// in Type.Search) is also indexed, analysed, as _text.f (see TextField):
// TextAnalyzer (English, stemming) with term vectors, which phrase
// queries and highlighting need. A per-field name rather than one
// composite field keeps per-field queries and boosts possible; a q query
// is a disjunction over the type's text fields. Document copies the values
// there.
//
// Meta fields sit at the top level: created_at and updated_at (datetime),
// created_by and updated_by (keyword). The resource id is bleve's own
// document id: match it with bleve.NewDocIDQuery (a term query on field
// _id works on disk-backed scorch indexes but not on NewMemOnly ones), and
// sort on it with the sort key "_id" (search.SortDocID), the tie-break
// every sort needs. A top-level data
// property named like a meta field, or _text, is not indexed.
//
// # Choices
//
// Dynamic mapping is off at every level: a field absent from the schema is
// not indexed, and a schema-less type ({"type":"object"} without
// properties) indexes only its meta fields. Nothing is stored (Store
// false: results are loaded from storage by id) and nothing goes to the
// _all field (IncludeInAll false). Doc values, which scorch needs to sort,
// are kept for scalar fields outside arrays (keyword, numeric, datetime,
// boolean) and for the meta fields; array elements and text fields have
// none, since sorting on them is not offered.
package index
