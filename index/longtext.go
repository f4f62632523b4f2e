package index

import (
	"context"
	"fmt"
	"index/suffixarray"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/RoaringBitmap/roaring/v2"
	index "github.com/blevesearch/bleve_index_api"
	"github.com/tidwall/gjson"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index/filter"
)

// Long texts (kind Text: search fields without a short maxLength) are not
// indexed whole. Each is indexed as
//
//   - its prefixTerm in the field itself, a keyword with doc values: the
//     text when it has at most textPrefix bytes, else its first textPrefix
//     bytes and truncMark. Terms order as their texts do, except that
//     texts sharing a truncated prefix tie;
//   - its words W: the maximal runs of word runes (isWordRune) of
//     strings.ToLower of the text, the first maxWordLen bytes of longer
//     runs (wordLongMark marks a cut). Most words are already terms of the
//     analysed TextField (whose terms are S), so WordsField(path) holds
//     only the difference (wordsField): the words that are not terms
//     (W \ S: stop words, words the stemmer changes) and, after
//     notWordMark, the terms that are not words (S \ W: stems). A text
//     has a word containing x exactly when WordsField has a word
//     containing x, or TextField has a term containing x that
//     WordsField does not mark as no word. Postings only.
//
// Filters are answered from these, exactly; where they are not decisive
// (a literal longer than the prefix, a ~ literal that is not one word, a
// text with a cut word) the candidates are checked on the stored text
// (planVerify). Sorts order by the prefix term and break ties between
// truncated prefixes on the stored text (sorter.cmp).
const (
	textPrefix   = 64
	truncMark    = 0xfe // not a byte of UTF-8 (nor zap's doc-value separator, 0xff)
	maxWordLen   = 64
	wordLongMark = "\x00" // not a word rune: no word is this term
	notWordMark  = "\x01" // prefixes the terms of TextField that are not words
	// FieldWords is the object holding the words of long texts: those of
	// the text at path p in WordsField(p).
	FieldWords = "_words"
)

// WordsField returns the name of the field holding the words of the long
// text at path f.
func WordsField(f string) string { return FieldWords + "." + f }

// prefixTerm is the index term of long text s.
func prefixTerm(s string) []byte {
	if len(s) <= textPrefix {
		return []byte(s)
	}
	t := make([]byte, textPrefix+1)
	copy(t, s)
	t[textPrefix] = truncMark
	return t
}

// truncated reports whether a prefix term stands for a longer text.
func truncated(term []byte) bool { return len(term) > textPrefix }

// isWordRune reports whether r belongs in a word: a letter, a number, a
// mark or an underscore. Whatever the definition, a substring of
// strings.ToLower(s) made of word runes alone lies within one maximal run
// of word runes, which is what makes ~ exact from the words.
func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r)
}

// wordRuns returns the maximal runs of word runes of s, in order.
func wordRuns(s string) []string {
	var out []string
	start := -1
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if isWordRune(r) && !(r == utf8.RuneError && n == 1) {
			if start < 0 {
				start = i
			}
		} else if start >= 0 {
			out = append(out, s[start:i])
			start = -1
		}
		i += n
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// wordsOf returns the terms of WordsField for the long text s: its words,
// lower-cased, each once, cut to maxWordLen bytes, and wordLongMark when
// one was cut.
func wordsOf(s string) [][]byte {
	runs := wordRuns(strings.ToLower(s))
	seen := make(map[string]struct{}, len(runs))
	out := make([][]byte, 0, len(runs))
	long := false
	for _, w := range runs {
		if len(w) > maxWordLen {
			w, long = w[:maxWordLen], true
		}
		if _, ok := seen[w]; ok {
			continue
		}
		seen[w] = struct{}{}
		out = append(out, []byte(w))
	}
	if long {
		out = append(out, []byte(wordLongMark))
	}
	return out
}

// Plans of long texts.
type (
	// planWords matches the documents whose long text at path has a
	// word that contains sub, a lower-cased string of word runes.
	planWords struct {
		path, sub string
	}
	// planVerify matches the documents of cand whose stored string at
	// path (a top-level property) passes test.
	planVerify struct {
		cand plan
		path string
		test func(string) bool
	}
)

func (planWords) isPlan()  {}
func (planVerify) isPlan() {}

// longClause compiles a clause with a string literal on the long text f
// (see compileFilter for the meaning of each operator).
func longClause(f string, op filter.Op, lit string) plan {
	term := prefixTerm(lit)
	exact := !truncated(term) // the literal is its own term
	verify := func(test func(string) bool) plan {
		return planVerify{cand: planTerm{field: f, term: term}, path: f, test: test}
	}
	switch op {
	case filter.Eq:
		if exact {
			return planTerm{field: f, term: term}
		}
		return verify(func(s string) bool { return s == lit })
	case filter.Neq:
		return planNot{longClause(f, filter.Eq, lit)}
	case filter.Gt, filter.Gte, filter.Lt, filter.Lte:
		lower := op == filter.Gt || op == filter.Gte
		incl := op == filter.Gte || op == filter.Lte
		if exact {
			// A text longer than the prefix compares with a literal
			// no longer than it as its term does.
			if lower {
				return planRange{field: f, lo: term, loIncl: incl}
			}
			return planRange{field: f, lo: []byte{}, loIncl: true, hi: term, hiIncl: incl}
		}
		// Texts whose term differs from the literal's compare as their
		// terms; those with the literal's term are checked.
		test := func(s string) bool {
			c := strings.Compare(s, lit)
			switch op {
			case filter.Gt:
				return c > 0
			case filter.Gte:
				return c >= 0
			case filter.Lt:
				return c < 0
			}
			return c <= 0
		}
		if lower {
			return planOr{planRange{field: f, lo: term, loIncl: false}, verify(test)}
		}
		return planOr{planRange{field: f, lo: []byte{}, loIncl: true, hi: term, hiIncl: false}, verify(test)}
	case filter.Like, filter.NotLike:
		like := longLike(f, lit)
		if op == filter.Like {
			return like
		}
		return planAnd{strPresent(f), planNot{like}}
	}
	return planNone{}
}

// longLike compiles f ~ lit. A literal of word runes only is in a text
// exactly when it is in one of its words: the words answer, and only
// texts with a cut word are checked. Otherwise each word run of the
// literal must be in a word of the text (or the text has a cut word), and
// those candidates are checked.
func longLike(f, lit string) plan {
	if lit == "" {
		return strPresent(f)
	}
	lower := strings.ToLower(lit)
	test := func(s string) bool { return strings.Contains(strings.ToLower(s), lower) }
	wf := WordsField(f)
	cut := planTerm{field: wf, term: []byte(wordLongMark)}
	runs := wordRuns(lower)
	if len(runs) == 1 && runs[0] == lower {
		return planOr{planWords{path: f, sub: lower}, planVerify{cand: cut, path: f, test: test}}
	}
	cand := planAnd{strPresent(f)}
	for _, r := range runs {
		cand = append(cand, planOr{planWords{path: f, sub: r}, cut})
	}
	return planVerify{cand: cand, path: f, test: test}
}

// wordIndex is the words of one WordsField in one segment, for substring
// search: the terms joined by 0 bytes (which no word holds) in a suffix
// array, and where each starts.
type wordIndex struct {
	sa     *suffixarray.Index
	data   []byte
	starts []int // starts[i] is the offset of term i in data; one more ends the last
}

// build reads the term dictionary of field in v.
func buildWordIndex(v *segView, field string) (*wordIndex, error) {
	d, err := v.dict(field)
	if err != nil {
		return nil, err
	}
	w := &wordIndex{data: []byte{0}}
	it := d.AutomatonIterator(nil, nil, nil)
	for {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("terms of %s: %w", field, err)
		}
		if e == nil {
			break
		}
		if e.Term == wordLongMark || strings.HasPrefix(e.Term, notWordMark) {
			continue
		}
		w.starts = append(w.starts, len(w.data))
		w.data = append(w.data, e.Term...)
		w.data = append(w.data, 0)
	}
	w.starts = append(w.starts, len(w.data))
	w.sa = suffixarray.New(w.data)
	return w, nil
}

// terms returns the terms containing sub, in dictionary order.
func (w *wordIndex) terms(sub string) [][]byte {
	offs := w.sa.Lookup([]byte(sub), -1)
	idx := make([]int, 0, len(offs))
	for _, o := range offs {
		idx = append(idx, sort.SearchInts(w.starts, o+1)-1)
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	out := make([][]byte, 0, len(idx))
	for _, i := range idx {
		if i >= 0 && i+1 < len(w.starts) {
			out = append(out, w.data[w.starts[i]:w.starts[i+1]-1])
		}
	}
	return out
}

// wordsOf returns the word index of field in v, from the cache.
func (cs *columns) wordsOf(v *segView, field string) (*wordIndex, error) {
	return cs.words.get(v, field, func() (*wordIndex, error) { return buildWordIndex(v, field) })
}

// evalWords evaluates a planWords on the segment: the words of
// WordsField that contain p.sub, and the terms of TextField that do,
// less the documents where such a term is not a word.
func (v *segView) evalWords(p planWords) (*roaring.Bitmap, error) {
	wf, tf := WordsField(p.path), TextField(p.path)
	b := roaring.New()
	wd, err := v.dict(wf)
	if err != nil {
		return nil, err
	}
	w, err := v.s.caches().wordsOf(v, wf)
	if err != nil {
		return nil, err
	}
	for _, t := range w.terms(p.sub) {
		if err := v.orPostings(b, wd, t); err != nil {
			return nil, err
		}
	}
	td, err := v.dict(tf)
	if err != nil {
		return nil, err
	}
	if w, err = v.s.caches().wordsOf(v, tf); err != nil {
		return nil, err
	}
	for _, t := range w.terms(p.sub) {
		tb := roaring.New()
		if err := v.orPostings(tb, td, t); err != nil {
			return nil, err
		}
		not := roaring.New()
		if err := v.orPostings(not, wd, append([]byte(notWordMark), t...)); err != nil {
			return nil, err
		}
		tb.AndNot(not)
		b.Or(tb)
	}
	return b, nil
}

// wordsField is the WordsField of a long text: the difference between its
// words and the terms of its analysed text field, computed when the
// index analyses it, after text (a document's fields are analysed in
// order; should text not be analysed yet, it is analysed here).
type wordsField struct {
	name  string
	text  index.Field
	value string
	freqs index.TokenFrequencies
}

func (f *wordsField) Name() string                        { return f.name }
func (f *wordsField) ArrayPositions() []uint64            { return nil }
func (f *wordsField) Options() index.FieldIndexingOptions { return termsOptions }
func (f *wordsField) Value() []byte                       { return nil }
func (f *wordsField) EncodedFieldType() byte              { return 't' }
func (f *wordsField) AnalyzedLength() int                 { return len(f.freqs) }
func (f *wordsField) NumPlainTextBytes() uint64           { return 0 }

// Size estimates the memory the field holds.
func (f *wordsField) Size() int {
	n := 96 + len(f.name) + len(f.value)
	for t := range f.freqs {
		n += 64 + 2*len(t)
	}
	return n
}
func (f *wordsField) AnalyzedTokenFrequencies() index.TokenFrequencies {
	return f.freqs
}

// Analyze computes the terms: W \ S, and S \ W after notWordMark.
func (f *wordsField) Analyze() {
	if f.text.AnalyzedTokenFrequencies() == nil {
		f.text.Analyze()
	}
	terms := f.text.AnalyzedTokenFrequencies()
	words := wordsOf(f.value)
	f.freqs = make(index.TokenFrequencies, len(words)/4)
	in := make(map[string]struct{}, len(words))
	for _, w := range words {
		in[string(w)] = struct{}{}
		if _, ok := terms[string(w)]; !ok {
			f.freqs[string(w)] = &index.TokenFreq{Term: w}
		}
	}
	for t := range terms {
		if _, ok := in[t]; !ok {
			nt := notWordMark + t
			f.freqs[nt] = &index.TokenFreq{Term: []byte(nt)}
		}
	}
}

// loader reads the stored data of resources by id: nil for one that no
// longer exists.
type loader func(ids []string) ([][]byte, error)

// loadBatch is the number of resources a loader is asked for at a time.
const loadBatch = 500

// loaderOf reads the resources of typ from the index's feed.
func (x *Index) loaderOf(ctx context.Context, typ string) loader {
	return func(ids []string) ([][]byte, error) {
		res, err := x.feed.GetMany(ctx, typ, ids, core.GetOptions{IncludeDeleted: true})
		if err != nil {
			return nil, fmt.Errorf("stored text of %s: %w", typ, err)
		}
		out := make([][]byte, len(ids))
		for i, r := range res {
			if r != nil && i < len(out) {
				out[i] = r.Data
			}
		}
		return out, nil
	}
}

// verify keeps the documents of cand whose stored string at path passes
// test. The stored text is the resource's current one, which a write may
// have changed since the snapshot: a list that races with writes may see
// either text, as it may see either version of the resource.
func (v *segView) verify(cand *roaring.Bitmap, path string, test func(string) bool) (*roaring.Bitmap, error) {
	if del := v.ss.Deleted(); del != nil {
		cand.AndNot(del)
	}
	out := roaring.New()
	if cand.IsEmpty() {
		return out, nil
	}
	if v.s.load == nil {
		return nil, fmt.Errorf("index: the stored text of %q is needed and cannot be read", path)
	}
	key := escapeKey(path)
	var locals []uint32
	var ids []string
	check := func() error {
		data, err := v.s.load(ids)
		if err != nil {
			return err
		}
		for i, d := range data {
			if d == nil {
				continue
			}
			if r := gjson.GetBytes(d, key); r.Type == gjson.String && test(r.Str) {
				out.Add(locals[i])
			}
		}
		locals, ids = locals[:0], ids[:0]
		return nil
	}
	it := cand.Iterator()
	for it.HasNext() {
		local := it.Next()
		raw, err := v.seg.DocID(uint64(local))
		if err != nil {
			return nil, fmt.Errorf("document id: %w", err)
		}
		locals, ids = append(locals, local), append(ids, string(raw))
		if len(ids) == loadBatch {
			if err := check(); err != nil {
				return nil, err
			}
		}
	}
	if len(ids) > 0 {
		if err := check(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fullText returns the stored long text at the field of key i of h, for
// breaking a tie between truncated prefixes; "" when it cannot be read
// (the resource is gone: its order among the ties is then by id).
func (so *sorter) fullText(h *hit, i int) string {
	id := so.id(h)
	k := fullKey{id: id, field: so.keys[i].field}
	if s, ok := so.full[k]; ok {
		return s
	}
	s := ""
	if so.s.load == nil {
		if so.err == nil {
			so.err = fmt.Errorf("index: sorting by %q needs the stored text", k.field)
		}
	} else if data, err := so.s.load([]string{id}); err != nil {
		if so.err == nil {
			so.err = err
		}
	} else if len(data) == 1 && data[0] != nil {
		s = gjson.GetBytes(data[0], escapeKey(k.field)).Str
	}
	if so.full == nil {
		so.full = map[fullKey]string{}
	}
	so.full[k] = s
	return s
}

type fullKey struct{ id, field string }
