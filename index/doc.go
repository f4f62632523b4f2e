// Package index is Strata's search index: one Bleve (scorch) index per
// resource type, mapped explicitly from the type's JSON Schema, fed by the
// Manager's change log, and answering the filtered, full-text and sorted
// lists of SPEC §3 (Open, Index.Search).
//
// # Field layout
//
// Documents are built from the stored JSON by Document, field by field
// with gjson, and indexed as they are (Bleve's mapping is not used to
// build them; Mapping describes them). Every data path the filter schema
// lists (FilterSchema; not below arrays) is indexed under its dotted name
// (author.name), by kind:
//
//   - string: one keyword term, the whole value, so =, != and ?= compare
//     exactly and case-sensitively;
//   - string with format date-time: its Unix nanoseconds, as a number;
//   - number, integer: its sortable int64 (numeric.Float64ToInt64, -0 as
//     0), prefix-coded: the shift-0 term in the field itself, the terms at
//     shifts 8, 16, … 56 in RangeField(path) (eight terms in all; Bleve's
//     own numeric fields have sixteen);
//   - boolean: T or F;
//   - array: the terms of its items, multi-valued.
//
// A path that may hold strings and numbers or booleans prefixes its string
// terms with "s", so they never meet number or boolean terms. Values of a
// JSON type the path's kind does not have are not indexed (the filter
// evaluator compares them with nothing), and neither is anything below an
// array.
//
// FieldHas holds, for every document, the paths where it has a non-null
// value, and FieldStr the scalar paths where that value is a string: "=
// null", "!= null", "!~" and comparisons with "" are single terms, exact
// for any value (an empty array, an object where a string was expected).
// FieldDeleted is T or F.
//
// Meta fields sit at the top level: created_at and updated_at (date-time),
// created_by and updated_by (keyword). The resource id is Bleve's document
// id (FieldID). A top-level data property named like a meta field, id, or
// one of the reserved names (_text, _has, _str, _range, _deleted, _words) is not
// indexed.
//
// # Full text
//
// Each search field f (a top-level string or string-array property named
// in Type.Search) is also indexed, analysed, as TextField(f): TextAnalyzer
// (English, stemming), without term vectors, which were a third of the
// index; a q query is a disjunction over the type's text fields per word
// (TextQuery), scored with BM25. That a quoted phrase's words are in order
// is checked on the stored text of the documents that have them all
// (phraseFilter), with the positions the analyzer gives (a stop word
// leaves a gap any word fills, as in Bleve's phrase queries). A scalar
// string search field keeps its exact keyword copy only when its schema
// bounds it with a maxLength of at most 1024; otherwise it is a long text
// (a body, filter kind Text), since an exact copy of every long text
// roughly doubled the index and its build time. Highlights are computed
// from the stored text (nothing is stored in the index), by analysing it
// again and marking the tokens the query matches.
//
// # Long texts
//
// A long text is as filterable and sortable as any string, with the same
// answers (longtext.go). It is indexed as its prefix term in the field
// itself (the text when it has at most 64 bytes, else its first 64 bytes
// and the byte 0xfe, with doc values) and by its words: the maximal runs
// of letters, numbers, marks and _ of strings.ToLower of the text, cut to
// 64 bytes (a cut marks the document with a term no word can be). Most
// words are terms of TextField already, so WordsField(path) holds only the
// difference, postings only: the words that are not terms (stop words,
// words the stemmer changes) and, marked, the terms that are not words.
//
//   - = and the orderings with a literal of at most 64 bytes are term
//     lookups and term ranges: a longer text compares with such a literal
//     as its prefix term does. With a longer literal, the texts whose term
//     is the literal's are checked on the stored text (planVerify).
//   - ~ with a literal made only of word runes is exact from the words: a
//     text contains it exactly when one of its words does. The words and
//     terms that contain it are found in suffix arrays of each segment's
//     WordsField and TextField terms (built once per segment and cached
//     with the sort columns); only texts with a cut word are checked. Any other literal takes as candidates
//     the texts with a word holding each of its word runs, and checks them.
//   - A sort orders by the prefix term; texts tied on a cut prefix are
//     ordered by their stored text, which is read for the ties only.
//
// Checks read the current stored resource (through the change feed), so
// a list that races with a write to a candidate may judge it by its new
// text, as it may return its new version. A ~ literal without any word
// rune ("-", " ") checks every text of the type.
//
// # Choices
//
// Dynamic mapping is off: a field absent from the schema is not indexed.
// Nothing is stored: results are loaded from storage by id. Doc values,
// which sorting reads, are kept only for single-valued fields of a
// sortable kind (string, number, date-time, boolean) and the meta fields;
// since a number's doc value is its one shift-0 term, they stay small.
//
// # Queries
//
// Filters never go through Bleve's searchers. A filter is compiled into a
// plan (compileFilter), evaluated segment by segment into bitmaps of
// matching documents from the postings and term dictionaries; totals are
// the bitmaps' sizes.
//
// An order on fields is found by a sorter over per-segment columns: each
// sortable field's values, decoded once from the doc values, with the
// documents sorted by value, cached while the segment lives. For one sort
// field (and the id) it walks the segments' sorted documents, merged, and
// keeps the matches, so a page costs what it visits rather than what
// matches; a range the filter puts on the sort field bounds the walk
// instead of being evaluated. Otherwise, or for few matches, it reads
// every match's values from the columns and keeps the first ones.
//
// A q query first finds its candidates from postings bitmaps (textPlan:
// each part's terms in one text field), evaluates the filter within them
// (ranges candidate by candidate from the columns). Relevance alone, best
// first (the default), is ranked by searchRanked: candidates scored from
// their terms' frequencies and norms with bleve's BM25 formula and
// statistics, best bound first, until no candidate left can reach the
// page (rankTop: MaxScore over the classes of candidates that match the
// same clauses), and only the page's ids loaded. Other orders with q run
// Bleve's text query over the candidates, as a conjunction led by them:
// scored for orders mixing _score with fields (and for prefixes),
// unscored to find the exact matches for a field order.
//
// # Facets and stats
//
// Facets (the most frequent values of a field) and stats (count, min,
// max, sum, avg of a number field) are counted over the bitmaps of all
// the matches, the same the total counts, never over the page
// (facets.go). Per segment, a field with few terms (at most 256) is
// counted from an ordinal column (each document's terms as byte ranks,
// built once from the postings and cached like the sort columns), or
// from its postings' sizes when every live document matches; a field
// with many terms from its sort column (a map for few matches, a walk of
// the documents in value order otherwise), or by intersecting each
// term's postings with the matches when it has no doc values (arrays,
// mixed kinds). The segments' sorted streams of (term, count) merge into
// a heap of the facet's size, so memory does not grow with a field's
// cardinality. Long text keeps no exact values and cannot be counted.
//
// # Compaction
//
// Scorch's merge policy keeps up to ten segments per size tier while
// documents arrive, which keeps indexing cheap; a search pays a
// dictionary lookup per term and segment, so an index left idle is
// compacted into about one segment per tier (compact.go).
//
// # Consistency and persistence
//
// See Index: a search waits until the index has applied every change
// committed before it (read-your-writes), and until the type's index is
// built; each index records the change it reflects in the same Bleve
// batch as the documents, so a crash replays from there.
package index
