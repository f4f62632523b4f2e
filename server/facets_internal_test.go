package server

import (
	"strings"
	"testing"

	"github.com/strata-dev/strata/core"
)

// FuzzParseFacets: any facets parameter is either refused or read into
// at most core.MaxAggregateFields named fields with sizes in bounds.
func FuzzParseFacets(f *testing.F) {
	for _, s := range []string{"", "status", "status,tags:20", " a : 3 , b ", "a:0", "a:101", "a:x", ",", "a,,b", ":3", "a:-1", "a:1:2", strings.Repeat("a,", 30)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fs, err := parseFacets(s)
		if err != nil {
			if fs != nil {
				t.Fatalf("%q: refused with fields %v", s, fs)
			}
			return
		}
		if len(fs) > core.MaxAggregateFields {
			t.Fatalf("%q: %d fields", s, len(fs))
		}
		for _, f := range fs {
			if f.Field == "" || f.Field != strings.TrimSpace(f.Field) || strings.ContainsAny(f.Field, ",") {
				t.Fatalf("%q: field %q", s, f.Field)
			}
			if f.Size < 0 || f.Size > core.MaxFacetSize {
				t.Fatalf("%q: size %d", s, f.Size)
			}
		}
		stats, err := parseStats(s)
		if err == nil && len(stats) > core.MaxAggregateFields {
			t.Fatalf("%q: %d stats fields", s, len(stats))
		}
	})
}
