package index

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index/filter"
)

// maxKeywordLength is the largest maxLength (in characters) with which a
// scalar string search field keeps its exact keyword copy. A search field
// without such a bound is taken for long text (a body, a description):
// an exact copy of every long text roughly doubled the index and its build
// time, so it is indexed by its prefix and its words instead (see
// prefixTerm and wordsOf), which answer every filter and sort exactly
// with the stored text's help where they are not decisive.
const maxKeywordLength = 1024

// fieldInfo is what the index knows of one data path of a type: how its
// values are indexed and, when filters may use it, its filter kind.
type fieldInfo struct {
	kind     filter.Kind // 0: not filterable (an object, or no usable kind)
	keyword  bool        // string values, keyword terms
	datetime bool        // date-time strings, numeric terms of their Unix nanoseconds
	numeric  bool
	boolean  bool
	array    bool // an array field: the flags above are its items'
	// strPrefix prefixes the keyword terms of a path that also holds
	// numbers or booleans, so that string terms never look like their
	// terms (prefix-coded numbers start with 0x20–0x3f, booleans are T
	// and F).
	strPrefix string
	docValues bool // sortable: doc values are kept
	text      bool // a search field, analysed under TextField(path)
	// long: a long text (kind Text): its prefixTerm in the field itself,
	// with doc values, and its lower-cased words in WordsField(path).
	long  bool
	props bool // an object whose properties are indexed below it
}

// layout is how the index maps the resources of a type: every indexed
// data path (none below arrays) and the type's full-text fields.
type layout struct {
	def   core.Type
	paths map[string]*fieldInfo
	text  []string // search fields analysed for full text, in Search order
}

// newLayout derives the layout of t from its schema and search fields.
// It returns an error if the schema is not JSON.
func newLayout(t core.Type) (*layout, error) {
	var schema any
	if err := json.Unmarshal(t.Schema, &schema); err != nil {
		return nil, fmt.Errorf("index: schema of type %q: %w", t.Name, err)
	}
	l := &layout{def: t, paths: map[string]*fieldInfo{}}
	sh := resolve(schema)
	search := map[string]bool{}
	for _, f := range t.Search {
		search[f] = true
	}
	for _, name := range sortedKeys(sh.props) {
		if slices.Contains(reserved, name) || filter.IsMeta(name) {
			continue
		}
		l.collect("", name, resolve(sh.props[name]), search[name])
	}
	for _, f := range t.Search {
		if fi := l.paths[f]; fi != nil && fi.text && !slices.Contains(l.text, f) {
			l.text = append(l.text, f)
		}
	}
	return l, nil
}

// collect adds the path prefix+name of shape sh, and the paths below it.
// It does not descend into arrays (filters do not look inside them).
// searched is true for a top-level search field.
func (l *layout) collect(prefix, name string, sh shape, searched bool) {
	if name == "" || strings.Contains(name, ".") {
		return // dots separate path elements
	}
	path := prefix + name
	if sh.array {
		if (sh.str || sh.num || sh.boolean) && !(sh.str && sh.dateTime) && len(sh.props) == 0 {
			fi := &fieldInfo{kind: filter.Array, keyword: sh.str, numeric: sh.num, boolean: sh.boolean, array: true}
			if sh.str && (sh.num || sh.boolean) {
				fi.strPrefix = anyStringLabel
			}
			// A string array named in search is analysed too; its
			// elements keep their keyword terms (labels are short).
			fi.text = searched && sh.str
			l.paths[path] = fi
		}
		return
	}
	fi := &fieldInfo{
		keyword:  sh.str && !sh.dateTime,
		datetime: sh.str && sh.dateTime,
		numeric:  sh.num,
		boolean:  sh.boolean,
		props:    len(sh.props) > 0,
	}
	n := 0
	for _, b := range []bool{fi.keyword, fi.datetime, fi.numeric, fi.boolean} {
		if b {
			n++
		}
	}
	switch {
	case n == 1 && fi.keyword:
		fi.kind = filter.String
	case n == 1 && fi.datetime:
		fi.kind = filter.Time
	case n == 1 && fi.numeric:
		fi.kind = filter.Number
	case n == 1 && fi.boolean:
		fi.kind = filter.Bool
	case n > 1 && !fi.datetime && !fi.props:
		fi.kind = filter.Any
		if fi.keyword {
			fi.strPrefix = anyStringLabel
		}
	}
	fi.text = searched && fi.keyword && prefix == ""
	if fi.kind == filter.String && fi.text && !(sh.maxLength > 0 && sh.maxLength <= maxKeywordLength) {
		fi.kind, fi.keyword, fi.long = filter.Text, false, true
	}
	switch fi.kind {
	case filter.String, filter.Number, filter.Time, filter.Bool, filter.Text:
		fi.docValues = true // sortable
	case 0:
		// Neither filterable nor sortable: only what lies below it, and
		// its text, are indexed.
		fi.keyword, fi.datetime, fi.numeric, fi.boolean = false, false, false, false
	}
	if fi.kind != 0 || fi.props {
		l.paths[path] = fi
	}
	for _, p := range sortedKeys(sh.props) {
		l.collect(path+".", p, resolve(sh.props[p]), false)
	}
}

// FilterSchema returns the filter schema of a type: the data paths that
// the index can answer filters on exactly, each with its kind. Meta fields
// are not listed (the filter package always knows them); a data property
// named id or like a meta field is left out, since the meta field wins in
// filters.
//
// Kinds:
//
//   - a string path (not date-time) is String, a date-time string Time,
//     a number or integer Number, a boolean Bool;
//   - a top-level string that is a search field of the type is Text
//     unless its schema sets a maxLength of at most 1024: a long text,
//     which takes every operator a String does and sorts, but is indexed
//     by its prefix and words rather than whole (see the package
//     documentation);
//   - a path that may hold several of string, number and boolean is Any
//     (not when it may also be a date-time string, nor when it also has
//     object properties, since paths below an Any field would then be
//     accepted without being indexed);
//   - an array whose items are strings, numbers or booleans is Array
//     (not when its items may be date-time strings or objects).
//
// Paths below an array are left out (filters do not look inside arrays),
// as are the parts the index does not map ($ref, dotted names, reserved
// names). Filtering on a path that is not listed is an "unknown field"
// error from filter.Parse rather than a filter that silently matches
// nothing.
//
// It returns an error if the schema is not JSON.
func FilterSchema(t core.Type) (filter.Schema, error) {
	l, err := newLayout(t)
	if err != nil {
		return nil, err
	}
	return l.filterSchema(), nil
}

func (l *layout) filterSchema() filter.Schema {
	s := make(filter.Schema, len(l.paths))
	for p, fi := range l.paths {
		if fi.kind != 0 {
			s[p] = filter.Field{Path: p, Kind: fi.kind}
		}
	}
	return s
}
