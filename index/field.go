package index

import (
	"math"
	"time"

	"github.com/blevesearch/bleve/v2/numeric"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"
)

// precisionStep is the shift between the prefix-coded terms of one number
// or date-time: each value is indexed at shifts 0, 8, …, 56, eight terms.
// Bleve's own numeric fields use a step of 4 (sixteen terms), which made
// numbers the largest part of indexing time and of the index; with 8, a
// range query still enumerates at most 2·255 terms per shift.
const precisionStep = 8

// shift0 is the first byte of the prefix-coded terms at shift 0.
const shift0 = numeric.ShiftStartInt64

// termsField is a field whose terms are given rather than analysed:
// keywords (the whole value one term), numbers and date-times (prefix-coded
// int64 at every shift), booleans ("T", "F") and the marker fields. Nothing
// is stored.
type termsField struct {
	name    string
	pos     []uint64
	options index.FieldIndexingOptions
	terms   [][]byte // terms[0] is the value (for numbers, the shift-0 term)
	freqs   index.TokenFrequencies
}

// Options of terms fields: indexed, without frequencies and norms (they
// are never scored), doc values when sorting needs them.
const (
	termsOptions  = index.IndexField | index.SkipFreqNorm
	sortedOptions = termsOptions | index.DocValues
	// Text fields keep no term vectors (positions and offsets), which
	// were a third of the index: phrases are checked on the stored text
	// (phraseFilter), highlights found by analysing it again.
	textOptions    = index.IndexField
	boolTrue       = "T"
	boolFalse      = "F"
	anyStringLabel = "s" // prefix of string terms in fields that also hold numbers or booleans
)

func newTermsField(name string, pos []uint64, options index.FieldIndexingOptions, terms ...[]byte) *termsField {
	return &termsField{name: name, pos: pos, options: options, terms: terms}
}

// keywordField is the field of one string value.
func keywordField(name string, pos []uint64, docValues bool, term []byte) *termsField {
	o := termsOptions
	if docValues {
		o = sortedOptions
	}
	return newTermsField(name, pos, o, term)
}

// numericFields are the fields of a number or a date-time, as the
// sortable int64 v (numeric.Float64ToInt64 of a number, the Unix
// nanoseconds of a time): its prefix-coded term at shift 0 in field name
// (with the doc values sorting reads, when docValues), and its terms at
// the coarser shifts in RangeField(name), which only range queries read.
// Doc values hold all the terms of their field, so keeping the coarse
// terms apart keeps a number's doc value one term instead of eight.
func numericFields(name string, pos []uint64, docValues bool, v int64) (*termsField, *termsField) {
	o := termsOptions
	if docValues {
		o = sortedOptions
	}
	coarse := make([][]byte, 0, 64/precisionStep-1)
	for shift := uint(precisionStep); shift < 64; shift += precisionStep {
		coarse = append(coarse, numeric.MustNewPrefixCodedInt64(v, shift))
	}
	return newTermsField(name, pos, o, prefixCoded(v, 0)), newTermsField(RangeField(name), pos, termsOptions, coarse...)
}

// RangeField returns the name of the field holding the coarse terms of the
// numbers and date-times of field f.
func RangeField(f string) string { return FieldRange + "." + f }

func boolTerm(b bool) []byte {
	if b {
		return []byte(boolTrue)
	}
	return []byte(boolFalse)
}

// numberKey is the sortable int64 of a JSON number, with -0 as 0 (they
// are equal to the filter evaluator).
func numberKey(f float64) int64 {
	if f == 0 {
		f = 0
	}
	return numeric.Float64ToInt64(f)
}

// timeKey is the sortable int64 of a time: its Unix nanoseconds. ok is
// false outside the years 1677–2262, where they overflow.
func timeKey(t time.Time) (int64, bool) {
	if t.Before(query.MinRFC3339CompatibleTime) || t.After(query.MaxRFC3339CompatibleTime) {
		return 0, false
	}
	return t.UnixNano(), true
}

// prefixCoded is the term of v at shift.
func prefixCoded(v int64, shift uint) []byte { return numeric.MustNewPrefixCodedInt64(v, shift) }

func (f *termsField) Name() string                        { return f.name }
func (f *termsField) ArrayPositions() []uint64            { return f.pos }
func (f *termsField) Options() index.FieldIndexingOptions { return f.options }
func (f *termsField) Value() []byte                       { return f.terms[0] }
func (f *termsField) EncodedFieldType() byte              { return 't' }
func (f *termsField) AnalyzedLength() int                 { return len(f.terms) }
func (f *termsField) NumPlainTextBytes() uint64           { return uint64(len(f.terms[0])) }
func (f *termsField) AnalyzedTokenFrequencies() index.TokenFrequencies {
	return f.freqs
}

// Size estimates the memory the field holds.
func (f *termsField) Size() int {
	n := 64 + len(f.name) + 8*len(f.pos)
	for _, t := range f.terms {
		n += 24 + len(t)
	}
	return n
}

// Analyze turns the terms into token frequencies, one each.
func (f *termsField) Analyze() {
	f.freqs = make(index.TokenFrequencies, len(f.terms))
	for _, t := range f.terms {
		tf := f.freqs[string(t)]
		if tf == nil {
			tf = &index.TokenFreq{Term: t}
			f.freqs[string(t)] = tf
		}
		if !f.options.SkipFreqNorm() {
			tf.SetFrequency(tf.Frequency() + 1)
		}
	}
}

// termRange is one range of prefix-coded terms at one shift, bounds
// inclusive.
type termRange struct {
	lo, hi []byte
}

// splitRange splits the inclusive range [lo, hi] of sortable int64 values
// into ranges of prefix-coded terms, the coarsest shift that covers each
// part (as Lucene's NumericUtils.splitRange does, with precisionStep).
// The ranges are disjoint and together match exactly the values in
// [lo, hi]. An empty range (lo > hi) gives none.
func splitRange(lo, hi int64) []termRange {
	var out []termRange
	if lo > hi {
		return out
	}
	for shift := uint(0); ; shift += precisionStep {
		diff := int64(1) << (shift + precisionStep)
		mask := ((int64(1) << precisionStep) - 1) << shift
		hasLower := lo&mask != 0
		hasUpper := hi&mask != mask
		nextLo := lo &^ mask
		if hasLower {
			nextLo = (lo + diff) &^ mask
		}
		nextHi := hi &^ mask
		if hasUpper {
			nextHi = (hi - diff) &^ mask
		}
		if shift+precisionStep >= 64 || nextLo > nextHi || nextLo < lo || nextHi > hi {
			out = append(out, shiftRange(lo, hi, shift))
			return out
		}
		if hasLower {
			out = append(out, shiftRange(lo, lo|mask, shift))
		}
		if hasUpper {
			out = append(out, shiftRange(hi&^mask, hi, shift))
		}
		lo, hi = nextLo, nextHi
	}
}

func shiftRange(lo, hi int64, shift uint) termRange {
	return termRange{lo: prefixCoded(lo, shift), hi: prefixCoded(hi, shift)}
}

// Bounds of the sortable int64 space.
const (
	minKey = math.MinInt64
	maxKey = math.MaxInt64
)
