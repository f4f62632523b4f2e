package index

import (
	"context"
	"fmt"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/tidwall/gjson"

	"github.com/strata-dev/strata/core"
)

// phrase is a quoted part of a q query, analysed: its terms and each
// term's position after the first's. A stop word removed from the middle
// leaves a gap any word fills, as in bleve's phrase queries.
type phrase struct {
	terms []string
	offs  []int
}

// phrasesOf returns the phrases of q that have more than one term (a
// phrase of one term is a word, which the index answers itself).
func phrasesOf(q string) []phrase {
	var out []phrase
	for _, p := range splitText(q) {
		if !p.phrase {
			continue
		}
		tokens := analyse(p.text)
		if len(tokens) < 2 {
			continue
		}
		ph := phrase{}
		for _, t := range tokens {
			ph.terms = append(ph.terms, string(t.Term))
			ph.offs = append(ph.offs, t.Position-tokens[0].Position)
		}
		out = append(out, ph)
	}
	return out
}

// in reports whether the tokens of one text value hold the phrase.
func (p phrase) in(tokens analysis.TokenStream) bool {
	at := make(map[int]string, len(tokens))
	for _, t := range tokens {
		at[t.Position] = string(t.Term)
	}
	for _, t := range tokens {
		if string(t.Term) != p.terms[0] {
			continue
		}
		all := true
		for i := 1; i < len(p.terms) && all; i++ {
			all = at[t.Position+p.offs[i]] == p.terms[i]
		}
		if all {
			return true
		}
	}
	return false
}

// hasPhrases reports whether every phrase is in one value of one of the
// text fields of data.
func (l *layout) hasPhrases(data []byte, ps []phrase) bool {
	for _, p := range ps {
		found := false
		for _, f := range l.text {
			v := gjson.GetBytes(data, escapeKey(f))
			switch {
			case v.Type == gjson.String:
				found = p.in(analyse(v.Str))
			case v.IsArray():
				v.ForEach(func(_, el gjson.Result) bool {
					found = el.Type == gjson.String && p.in(analyse(el.Str))
					return !found
				})
			}
			if found {
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// phraseBatch is the number of resources phraseFilter reads at a time.
const phraseBatch = 500

// phraseFilter keeps, among the candidates ms (which have every term of
// every phrase in one field), those whose stored text has the phrases:
// the index keeps no positions, so a phrase query reads its candidates
// from storage, in proportion to the documents holding all its terms.
func (x *Index) phraseFilter(ctx context.Context, snap *snapshot, lay *layout, typ string, ps []phrase, ms matches) error {
	type cand struct {
		seg   int
		local uint32
	}
	var cands []cand
	var ids []string
	check := func() error {
		res, err := x.feed.GetMany(ctx, typ, ids, core.GetOptions{IncludeDeleted: true})
		if err != nil {
			return fmt.Errorf("phrase of %s: %w", typ, err)
		}
		for i, r := range res {
			if r == nil || !lay.hasPhrases(r.Data, ps) {
				ms[cands[i].seg].Remove(cands[i].local)
			}
		}
		cands, ids = cands[:0], ids[:0]
		return nil
	}
	for si, b := range ms {
		it := b.Clone().Iterator() // check removes from b
		for it.HasNext() {
			local := it.Next()
			raw, err := snap.segs[si].seg.DocID(uint64(local))
			if err != nil {
				return fmt.Errorf("document id: %w", err)
			}
			cands = append(cands, cand{seg: si, local: local})
			ids = append(ids, string(raw))
			if len(ids) == phraseBatch {
				if err := check(); err != nil {
					return err
				}
			}
		}
	}
	if len(ids) > 0 {
		return check()
	}
	return nil
}
