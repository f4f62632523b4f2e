package index

import (
	"html"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// Highlighting limits: a value up to fragmentSize bytes is one fragment;
// a longer one gives at most maxFragments fragments of about fragmentSize
// bytes around its matches.
const (
	fragmentSize = 160
	maxFragments = 3
)

// highlighter marks where a full-text query matches the text of search
// fields. It re-analyses the text (read from storage: the index stores
// none) with TextAnalyzer and marks the tokens the query's words, phrases
// and prefixes match, as TextQuery does against the index: a stemmed term
// of a word or phrase, or a term starting with a prefix.
type highlighter struct {
	terms    map[string]bool
	prefixes []string
}

func newHighlighter(q string) *highlighter {
	h := &highlighter{terms: map[string]bool{}}
	for _, p := range splitText(q) {
		if !p.phrase && strings.HasSuffix(p.text, "*") {
			if pfx := strings.ToLower(strings.TrimRight(p.text, "*")); pfx != "" {
				h.prefixes = append(h.prefixes, pfx)
			}
			continue
		}
		for _, t := range analyse(p.text) {
			h.terms[string(t.Term)] = true
		}
	}
	return h
}

func (h *highlighter) matches(term []byte) bool {
	if h.terms[string(term)] {
		return true
	}
	for _, p := range h.prefixes {
		if strings.HasPrefix(string(term), p) {
			return true
		}
	}
	return false
}

// document returns the fragments of the search fields of one resource's
// data where the query matched: field → fragments, nil when none did.
func (h *highlighter) document(l *layout, data []byte) map[string][]string {
	var out map[string][]string
	for _, f := range l.text {
		v := gjson.GetBytes(data, escapeKey(f))
		var values []string
		switch {
		case v.Type == gjson.String:
			values = []string{v.Str}
		case v.IsArray():
			v.ForEach(func(_, el gjson.Result) bool {
				if el.Type == gjson.String {
					values = append(values, el.Str)
				}
				return true
			})
		}
		var frags []string
		for _, s := range values {
			frags = append(frags, h.fragments(s)...)
			if len(frags) >= maxFragments {
				frags = frags[:maxFragments]
				break
			}
		}
		if len(frags) > 0 {
			if out == nil {
				out = map[string][]string{}
			}
			out[f] = frags
		}
	}
	return out
}

// span is a matched token, as byte offsets.
type span struct{ start, end int }

// fragments returns the highlighted fragments of one text value.
func (h *highlighter) fragments(s string) []string {
	var hits []span
	for _, t := range analyse(s) {
		if h.matches(t.Term) && t.Start < t.End && t.End <= len(s) {
			hits = append(hits, span{t.Start, t.End})
		}
	}
	if len(hits) == 0 {
		return nil
	}
	if len(s) <= fragmentSize {
		return []string{mark(s, 0, len(s), hits)}
	}
	var out []string
	for i := 0; i < len(hits) && len(out) < maxFragments; {
		start := wordStart(s, max(0, hits[i].start-fragmentSize/3))
		end := wordEnd(s, min(len(s), start+fragmentSize))
		end = max(end, hits[i].end)
		frag := mark(s, start, end, hits)
		if start > 0 {
			frag = "…" + frag
		}
		if end < len(s) {
			frag += "…"
		}
		out = append(out, frag)
		for i < len(hits) && hits[i].start < end {
			i++
		}
	}
	return out
}

// mark renders s[start:end] as HTML with the hits inside it in <mark>.
func mark(s string, start, end int, hits []span) string {
	var b strings.Builder
	at := start
	for _, hs := range hits {
		if hs.start < at || hs.end > end {
			continue
		}
		b.WriteString(html.EscapeString(s[at:hs.start]))
		b.WriteString("<mark>")
		b.WriteString(html.EscapeString(s[hs.start:hs.end]))
		b.WriteString("</mark>")
		at = hs.end
	}
	b.WriteString(html.EscapeString(s[at:end]))
	return b.String()
}

// wordStart moves i forward to the start of a word (after a space), or
// at least to the start of a rune; 0 stays.
func wordStart(s string, i int) int {
	if i == 0 {
		return 0
	}
	for j := i; j < len(s) && j < i+20; j++ {
		if s[j-1] == ' ' {
			return j
		}
	}
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return i
}

// wordEnd moves i back to the end of a word (before a space), or at least
// to the start of a rune.
func wordEnd(s string, i int) int {
	if i >= len(s) {
		return len(s)
	}
	for j := i; j > 0 && j > i-20; j-- {
		if s[j] == ' ' {
			return j
		}
	}
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

// escapeKey keeps gjson's path syntax out of a property name.
func escapeKey(k string) string {
	var b strings.Builder
	for _, r := range k {
		if strings.ContainsRune(`.*?#@|\!=<>%`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
