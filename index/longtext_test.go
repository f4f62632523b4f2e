package index

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index/filter"
)

// bodiesType has a long text (body: no maxLength, a search field), a
// short one (title) and a number.
var bodiesType = core.Type{Name: "bodies", Schema: json.RawMessage(`{"type":"object","properties":{
	"title":{"type":"string","maxLength":80},"body":{"type":["string","null"]},"n":{"type":"integer"}}}`),
	Search: []string{"title", "body"}}

// textWords are the pieces random long texts are made of: case variants,
// letters whose case mapping changes their length (İ, ẞ, K), Greek final
// sigma, combining marks, digits of other scripts, words longer than
// maxWordLen, and punctuation.
var textWords = []string{"alpha", "Alpha", "ALPHA", "beta", "gamma", "straße", "STRASSE", "ẞtraße", "İstanbul", "ıi",
	"Σίσυφος", "ΣΊΣΥΦΟΣ", "café", "cafe\u0301", "naïve", "日本語", "emoji😀", "x_y", "a-b", "foo.bar", "42", "٣٤",
	"\u212aelvin", "ǅemal", strings.Repeat("long", 20), strings.Repeat("Ωmega", 15), "the", "of", "and", "é", "-", ",", "!"}

var textSeps = []string{" ", " ", " ", ", ", "-", "\n", "  ", ".", ""}

// randText returns a text of about size bytes.
func randText(r *rand.Rand, size int) string {
	var b strings.Builder
	for b.Len() < size {
		b.WriteString(textWords[r.IntN(len(textWords))])
		b.WriteString(textSeps[r.IntN(len(textSeps))])
	}
	return b.String()
}

// textGen generates long texts sharing prefixes and filters over them.
type textGen struct {
	r        *rand.Rand
	prefixes []string
	texts    []string // texts generated so far
}

func newTextGen(r *rand.Rand) *textGen {
	g := &textGen{r: r}
	for range 4 {
		// About textPrefix bytes, so cuts fall around (and inside runes
		// near) the prefix's end.
		p := randText(r, textPrefix-8+r.IntN(16))
		g.prefixes = append(g.prefixes, p)
	}
	return g
}

// body returns a random body: nil for none, or a string value.
func (g *textGen) body() any {
	r := g.r
	var s string
	switch r.IntN(12) {
	case 0:
		return nil
	case 1:
		s = ""
	case 2, 3:
		s = randText(r, 1+r.IntN(40))
	case 4, 5, 6:
		p := g.prefixes[r.IntN(len(g.prefixes))]
		s = p + randText(r, r.IntN(200))
		if r.IntN(4) == 0 {
			s = p // the prefix alone
		}
	case 7:
		s = randText(r, 1000+r.IntN(100_000))
	case 8:
		if len(g.texts) > 0 {
			s = caseVariant(r, g.texts[r.IntN(len(g.texts))])
		}
	case 9:
		s = strings.Repeat("x", textPrefix+r.IntN(3)-1) + randText(r, r.IntN(10))
	default:
		s = randText(r, 50+r.IntN(2000))
	}
	g.texts = append(g.texts, s)
	return s
}

func caseVariant(r *rand.Rand, s string) string {
	switch r.IntN(3) {
	case 0:
		return strings.ToUpper(s)
	case 1:
		return strings.ToLower(s)
	}
	return strings.ToTitle(s)
}

// literal returns a string literal related to the texts, of at most
// about 400 bytes (filters are bounded).
func (g *textGen) literal() string {
	s := g.literal1()
	for len(s) > 400 {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}

func (g *textGen) literal1() string {
	r := g.r
	pick := func() string {
		if len(g.texts) == 0 {
			return "alpha"
		}
		return g.texts[r.IntN(len(g.texts))]
	}
	switch r.IntN(10) {
	case 0:
		return ""
	case 1:
		return pick()
	case 2:
		s := pick()
		if s == "" {
			return s
		}
		_, n := utf8.DecodeLastRuneInString(s)
		return s[:len(s)-n] // one rune short
	case 3:
		return pick() + textWords[r.IntN(len(textWords))]
	case 4:
		p := g.prefixes[r.IntN(len(g.prefixes))]
		return p + randText(r, r.IntN(10))
	case 5:
		return textWords[r.IntN(len(textWords))]
	case 6:
		odd := []string{"-", " ", ", ", "a b", "alpha beta", "e\u0301", "SS", "ss", "k", "σ", "ς", "i̇"}
		return odd[r.IntN(len(odd))]
	}
	// A substring of a text, on rune boundaries, maybe in another case.
	s := []rune(pick())
	if len(s) == 0 {
		return "alpha"
	}
	i := r.IntN(len(s))
	j := i + 1 + r.IntN(min(len(s)-i, 12))
	sub := string(s[i:j])
	if r.IntN(3) == 0 {
		sub = caseVariant(r, sub)
	}
	return sub
}

var textOps = []string{"=", "!=", "<", "<=", ">", ">=", "~", "!~"}

// clause returns a random clause on body (or title, rarely).
func (g *textGen) clause() string {
	r := g.r
	field := "body"
	if r.IntN(8) == 0 {
		field = "title"
	}
	if r.IntN(10) == 0 {
		return field + []string{" = null", " != null"}[r.IntN(2)]
	}
	return field + " " + textOps[r.IntN(len(textOps))] + " " + quoteLit(g.literal())
}

func (g *textGen) filter() string {
	c := g.clause()
	switch g.r.IntN(4) {
	case 0:
		return c + " && " + g.clause()
	case 1:
		return c + " || " + g.clause()
	}
	return c
}

// longDoc is a resource of the property tests and its data, decoded.
type longDoc struct {
	id   string
	data map[string]any
}

// TestLongTextMatchesFilter checks, on random resources whose long texts
// run from nothing to 100 KB (shared prefixes, unicode, case variants,
// cut words), that every operator on a long text and every sort by it
// gives what the exact evaluator gives, through Index.Search on a
// Manager's index (so the checks on stored text run for real), paging
// with cursors.
func TestLongTextMatchesFilter(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	e := newTestEnv(t, bodiesType)
	g := newTextGen(r)
	ctx := core.AsSystem(t.Context())
	var docs []*longDoc
	put := func(d *longDoc) {
		data := map[string]any{"title": caseVariant(r, textWords[r.IntN(len(textWords))]), "n": r.IntN(5)}
		switch b := g.body(); {
		case b != nil:
			data["body"] = b
		case r.IntN(2) == 0:
			data["body"] = nil
		}
		raw, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		if d.id == "" {
			d.id = e.create(bodiesType.Name, string(raw), "")
		} else if _, err := e.m.Replace(ctx, bodiesType.Name, d.id, raw, core.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		d.data = map[string]any{}
		if err := json.Unmarshal(raw, &d.data); err != nil {
			t.Fatal(err)
		}
	}
	for range 160 {
		d := &longDoc{}
		put(d)
		docs = append(docs, d)
	}
	for range 20 { // replaced: older versions sit in older segments
		put(docs[r.IntN(len(docs))])
	}
	for range 5 {
		i := r.IntN(len(docs))
		if err := e.m.Delete(ctx, bodiesType.Name, docs[i].id, core.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		docs = slices.Delete(docs, i, i+1)
	}
	// The first search builds the index, which may take longer than a
	// search waits on a loaded machine: wait for it.
	for deadline := time.Now().Add(5 * time.Minute); ; {
		_, err := e.search(bodiesType.Name, core.SearchRequest{Filter: "n > 0"})
		if err == nil {
			break
		}
		if !errors.Is(err, core.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	schema, err := FilterSchema(bodiesType)
	if err != nil {
		t.Fatal(err)
	}

	cases := testCases(t, 250)
	for c := range cases {
		src := g.filter()
		ex, err := filter.Parse(src, schema, filter.Limits{})
		if err != nil {
			t.Fatalf("generated filter %.300q: %v", src, err)
		}
		var want []*longDoc
		for _, d := range docs {
			if ex.Match(d.data, map[string]any{"id": d.id}) {
				want = append(want, d)
			}
		}
		spec := ""
		if c%3 == 0 {
			spec = []string{"body", "-body", "body,-n", "n,-body", "title,body"}[r.IntN(5)]
			sortDocs(want, spec)
		}
		wantIDs := make([]string, 0, len(want))
		for _, d := range want {
			wantIDs = append(wantIDs, d.id)
		}
		req := core.SearchRequest{Filter: src, Sort: spec, Limit: 200, Total: true}
		if spec != "" {
			req.Limit = 1 + r.IntN(30)
		}
		var got []string
		for pages := 0; ; pages++ {
			if pages > len(docs)+1 {
				t.Fatalf("filter %q sort %q: the cursor does not advance", src, spec)
			}
			res, err := e.search(bodiesType.Name, req)
			if err != nil {
				t.Fatalf("filter %.300q sort %q: %v", src, spec, err)
			}
			if pages == 0 && res.Total != len(want) {
				t.Errorf("filter %.300q: total %d, want %d", src, res.Total, len(want))
			}
			got = append(got, res.IDs...)
			if res.NextCursor == "" {
				break
			}
			req.Cursor = res.NextCursor
		}
		if spec == "" {
			slices.Sort(got)
			slices.Sort(wantIDs)
		}
		if len(src) > 300 {
			src = src[:300] + "…"
		}
		if !slices.Equal(got, wantIDs) {
			for i := range min(len(got), len(wantIDs)) {
				if got[i] != wantIDs[i] {
					for _, d := range docs {
						if d.id == got[i] || d.id == wantIDs[i] {
							b, _ := d.data["body"].(string)
							t.Logf("%s n=%v body %d %q", d.id, d.data["n"], len(b), b[:min(len(b), 90)])
						}
					}
					break
				}
			}
			t.Fatalf("filter %q sort %q (seed %d):\n got %d %v\nwant %d %v", src, spec, seed, len(got), got, len(wantIDs), wantIDs)
		}
	}
	t.Logf("%d random filters and sorts on long texts agree with the evaluator", cases)
}

// sortDocs sorts docs as the index must: by each key (strings bytewise,
// numbers numerically, missing or null last either way), then by id.
func sortDocs(docs []*longDoc, spec string) {
	entries := sortEntries(spec)
	slices.SortStableFunc(docs, func(a, b *longDoc) int {
		for _, en := range entries {
			va, vb := a.data[en.name], b.data[en.name]
			switch {
			case va == nil && vb == nil:
				continue
			case va == nil:
				return 1
			case vb == nil:
				return -1
			}
			var c int
			switch x := va.(type) {
			case string:
				c = strings.Compare(x, vb.(string))
			case float64:
				c = cmpFloat(x, vb.(float64))
			}
			if en.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return strings.Compare(a.id, b.id)
	})
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestWordRuns checks the words of a long text against its definition: the
// maximal runs of word runes of its lower case, each once, cut to
// maxWordLen bytes.
func TestWordRuns(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"Hello, World! hello", []string{"hello", "world"}},
		{"a-b_c  d", []string{"a", "b_c", "d"}},
		{"İstanbul STRASSE", []string{"istanbul", "strasse"}},
		{"cafe\u0301 ٣٤", []string{"cafe\u0301", "٣٤"}},
		{strings.Repeat("ab", 40) + " x", []string{strings.Repeat("ab", 32), "x", wordLongMark}},
		{"\xff bad", []string{"bad"}},
	}
	for _, tt := range tests {
		var got []string
		for _, w := range wordsOf(tt.in) {
			got = append(got, string(w))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("wordsOf(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzLongLike checks the claim ~ rests on: a lower-cased literal of word
// runes is in the lower case of a text exactly when it is in one of the
// text's words (when none was cut), and each word run of any literal found
// in a text is in one of its words.
func FuzzLongLike(f *testing.F) {
	for _, s := range []string{"Hello world", "İstanbul", "straße", "a-b", "\xff\xfe", "ΣΊΣΥΦΟΣ"} {
		f.Add(s, "l")
	}
	f.Fuzz(func(t *testing.T, text, lit string) {
		words := wordsOf(text)
		cut := slices.ContainsFunc(words, func(w []byte) bool { return string(w) == wordLongMark })
		lower := strings.ToLower(lit)
		in := strings.Contains(strings.ToLower(text), lower)
		inWord := func(sub string) bool {
			return slices.ContainsFunc(words, func(w []byte) bool { return strings.Contains(string(w), sub) })
		}
		runs := wordRuns(lower)
		if len(runs) == 1 && runs[0] == lower && !cut && in != inWord(lower) {
			t.Fatalf("text %q literal %q: contained %v, in a word %v", text, lit, in, inWord(lower))
		}
		if in && !cut {
			for _, r := range runs {
				if !inWord(r) {
					t.Fatalf("text %q literal %q: run %q in no word", text, lit, r)
				}
			}
		}
		if pt := prefixTerm(text); !truncated(pt) && string(pt) != text {
			t.Fatalf("prefix term of %q is %q", text, pt)
		}
	})
}
