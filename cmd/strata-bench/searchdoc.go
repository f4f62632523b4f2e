package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// searchType is the resource type of the search run: its own type, so
// the other runs keep their schema and documents.
const searchType = "articles"

// searchSchema types every field appendArticle writes, so the index maps
// tags as an array of keywords, status as a keyword, views and score as
// numbers and published as a date-time.
const searchSchema = `{"type":"object","required":["title","body"],"properties":{` +
	`"title":{"type":"string","maxLength":300},"body":{"type":"string"},` +
	`"tags":{"type":"array","items":{"type":"string"},"maxItems":10},` +
	`"status":{"type":"string"},"author":{"type":"string"},` +
	`"views":{"type":"integer","minimum":0},"score":{"type":"number"},` +
	`"published":{"type":"string","format":"date-time"},"seq":{"type":"integer"},` +
	`"category":{"type":"string"},"writer":{"type":"string"}}}`

// searchTypeDefinition is the body of POST /api/types for searchType, with
// title and body as its full-text fields and writer a reference to a
// writerType resource.
func searchTypeDefinition() []byte {
	return []byte(`{"name":"` + searchType + `","schema":` + searchSchema + `,"search":["title","body"],` +
		`"references":{"writer":{"type":"` + writerType + `"}}}`)
}

// writerType is the type the articles' writer field references (expand
// reads them), and writerCount how many writers the search run creates.
const (
	writerType  = "writers"
	writerCount = 100
)

// writerTypeDefinition is the body of POST /api/types for writerType.
func writerTypeDefinition() []byte {
	return []byte(`{"name":"` + writerType + `","schema":{"type":"object","required":["name"],"properties":{` +
		`"name":{"type":"string"},"bio":{"type":"string"}}}}`)
}

// categories is the ten values of an article's category (a facet with
// ten values).
var categories = []string{"arts", "business", "culture", "education", "health", "politics", "science", "sports", "technology", "travel"}

// The search run plants two words in article bodies that the vocabulary
// never draws, so queries can ask for a known share of the articles:
// commonWord in about 1 of commonWordEvery articles, rareWord in about
// rareWordArticles of them (every searchDocs/rareWordArticles-th).
const (
	commonWord       = "quasar"
	commonWordEvery  = 100
	rareWord         = "zyzzyva"
	rareWordArticles = 10
)

const (
	// articleTitleWords and articleBodyWords size an article: with tags,
	// numbers and a date it comes to about 1 KiB.
	articleTitleWords = 6
	articleBodyWords  = 100
	// maxViews bounds an article's views, drawn uniformly below it.
	maxViews = 1_000_000
	// queryRankLow and queryRankHigh bound the vocabulary ranks full-text
	// queries draw their words from: frequent enough to match a few percent
	// of the articles each, rare enough for BM25 to matter.
	queryRankLow, queryRankHigh = 100, 1000
)

var statuses = []string{"draft", "review", "published", "published", "published", "archived"}

// vocabulary is the words of articles with a Zipf-like distribution of
// frequencies, as in natural text: the bench's ordinary words first (the
// most frequent), then generated three-syllable words. Immutable once
// built; safe for concurrent use.
type vocabulary struct {
	words []string
	cdf   []float64 // cdf[i] is the probability of drawing a word of rank ≤ i
}

// newVocabulary builds the vocabulary; s is the Zipf exponent.
func newVocabulary(s float64) *vocabulary {
	syllables := []string{"ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "dra", "fen", "gul", "hor", "jin", "pex", "qua", "zor"}
	v := &vocabulary{words: slices.Clone(words)}
	n := len(syllables)
	for i := range n * n * n {
		v.words = append(v.words, syllables[i%n]+syllables[i/n%n]+syllables[i/(n*n)])
	}
	v.cdf = make([]float64, len(v.words))
	sum := 0.0
	for i := range v.words {
		sum += 1 / math.Pow(float64(i+1), s)
		v.cdf[i] = sum
	}
	for i := range v.cdf {
		v.cdf[i] /= sum
	}
	return v
}

// draw returns a word drawn by frequency.
func (v *vocabulary) draw(rng *rand.Rand) string {
	i, _ := slices.BinarySearch(v.cdf, rng.Float64())
	return v.words[min(i, len(v.words)-1)]
}

// queryWord returns a word of rank between queryRankLow and queryRankHigh,
// uniformly.
func (v *vocabulary) queryWord(rng *rand.Rand) string {
	return v.words[queryRankLow+rng.IntN(queryRankHigh-queryRankLow)]
}

func (v *vocabulary) appendWords(dst []byte, rng *rand.Rand, n int) []byte {
	for i := range n {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, v.draw(rng)...)
	}
	return dst
}

// publishedFrom and publishedSpan bound the articles' publication times.
var (
	publishedFrom = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	publishedSpan = 7 * 365 * 24 * time.Hour
)

// appendArticle appends an article of about 1 KiB to dst: a title, a body
// of articleBodyWords words drawn from v, a category, a writer, three
// tags, a status, an author, views, a score, a date-time and seq, which
// makes every article distinct.
//
// plant, when not empty, is a word added to the body; writers, when not
// empty, are the ids the writer field draws from; the category is one of
// categories.
func appendArticle(dst []byte, v *vocabulary, rng *rand.Rand, seq uint64, plant string, writers []string) []byte {
	dst = append(dst, `{"title":"`...)
	dst = v.appendWords(dst, rng, articleTitleWords)
	dst = append(dst, `","body":"`...)
	dst = v.appendWords(dst, rng, articleBodyWords)
	if plant != "" {
		dst = append(dst, ' ')
		dst = append(dst, plant...)
	}
	dst = append(dst, `","category":"`...)
	dst = append(dst, categories[rng.IntN(len(categories))]...)
	if len(writers) > 0 {
		dst = append(dst, `","writer":"`...)
		dst = append(dst, writers[rng.IntN(len(writers))]...)
	}
	dst = append(dst, `","tags":[`...)
	for i := range 3 {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, tags[rng.IntN(len(tags))]...)
		dst = append(dst, '"')
	}
	dst = append(dst, `],"status":"`...)
	dst = append(dst, statuses[rng.IntN(len(statuses))]...)
	dst = append(dst, `","author":"`...)
	dst = append(dst, authors[rng.IntN(len(authors))]...)
	dst = append(dst, `","views":`...)
	dst = strconv.AppendInt(dst, rng.Int64N(maxViews), 10)
	dst = append(dst, `,"score":`...)
	dst = strconv.AppendFloat(dst, float64(rng.IntN(100_000))/100, 'f', -1, 64)
	dst = append(dst, `,"published":"`...)
	dst = randomTime(rng).AppendFormat(dst, time.RFC3339)
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	return append(dst, '}')
}

// randomTime returns a time between publishedFrom and publishedSpan after
// it, to the second.
func randomTime(rng *rand.Rand) time.Time {
	return publishedFrom.Add(time.Duration(rng.Int64N(int64(publishedSpan/time.Second))) * time.Second)
}
