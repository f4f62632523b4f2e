package index

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index/filter"
)

// fieldInfo is what filtering knows of one indexed data path: its filter
// kind and the index fields (all under the path's name) its values go to.
type fieldInfo struct {
	kind     filter.Kind
	keyword  bool // string values, keyword field
	datetime bool // date-time strings, datetime field
	numeric  bool
	boolean  bool
	array    bool // an array field: the flags above are its items'
}

// FilterSchema returns the filter schema of a type: the data paths that
// Mapping indexes in a way that filters can be answered exactly, each with
// its kind. Meta fields are not listed (the filter package always knows
// them); a data property named id or like a meta field is left out, since
// the meta field wins in filters.
//
// Kinds:
//
//   - a string path (not date-time) is String, a date-time string Time,
//     a number or integer Number, a boolean Bool;
//   - a path that may hold several of string, number and boolean is Any
//     (not when it may also be a date-time string, nor when it also has
//     object properties, since paths below an Any field would then be
//     accepted without being indexed);
//   - an array whose items are strings, numbers or booleans is Array
//     (not when its items may be date-time strings or objects).
//
// Paths below an array are left out (filters do not look inside arrays),
// as are the parts Mapping does not index ($ref, dotted names, reserved
// names). Filtering on a path that is not listed is an "unknown field"
// error from filter.Parse rather than a filter that silently matches
// nothing.
//
// It returns an error if the schema is not JSON.
func FilterSchema(t core.Type) (filter.Schema, error) {
	infos, err := fieldInfos(t)
	if err != nil {
		return nil, err
	}
	s := make(filter.Schema, len(infos))
	for p, fi := range infos {
		s[p] = filter.Field{Path: p, Kind: fi.kind}
	}
	return s, nil
}

// fieldInfos derives the filterable data paths of t, walking the schema as
// Mapping does.
func fieldInfos(t core.Type) (map[string]fieldInfo, error) {
	var schema any
	if err := json.Unmarshal(t.Schema, &schema); err != nil {
		return nil, fmt.Errorf("index: schema of type %q: %w", t.Name, err)
	}
	infos := map[string]fieldInfo{}
	sh := resolve(schema)
	for _, name := range sortedKeys(sh.props) {
		if slices.Contains(reserved, name) || filter.IsMeta(name) {
			continue
		}
		collect(infos, "", name, resolve(sh.props[name]))
	}
	return infos, nil
}

// collect adds the path prefix+name of shape sh, and the paths below it,
// to infos. It does not descend into arrays.
func collect(infos map[string]fieldInfo, prefix, name string, sh shape) {
	if name == "" || strings.Contains(name, ".") {
		return // not indexed by Mapping
	}
	path := prefix + name
	if sh.array {
		if (sh.str || sh.num || sh.boolean) && !(sh.str && sh.dateTime) && len(sh.props) == 0 {
			infos[path] = fieldInfo{kind: filter.Array, keyword: sh.str, numeric: sh.num, boolean: sh.boolean, array: true}
		}
		return
	}
	fi := fieldInfo{
		keyword:  sh.str && !sh.dateTime,
		datetime: sh.str && sh.dateTime,
		numeric:  sh.num,
		boolean:  sh.boolean,
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
	case n > 1 && !fi.datetime && len(sh.props) == 0:
		fi.kind = filter.Any
	}
	if fi.kind != 0 {
		infos[path] = fi
	}
	for _, p := range sortedKeys(sh.props) {
		collect(infos, path+".", p, resolve(sh.props[p]))
	}
}
