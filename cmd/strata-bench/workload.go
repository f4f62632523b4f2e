package main

import (
	"bytes"
	"math/rand/v2"
	"strconv"
)

// typeName is the resource type every scenario writes and reads.
const typeName = "docs"

// typeSchema is the schema of the bench's types: it covers every field
// appendDoc writes, so validation does real work.
const typeSchema = `{"type":"object","required":["title","body"],"properties":{` +
	`"title":{"type":"string","maxLength":200},"summary":{"type":"string"},"body":{"type":"string"},` +
	`"tags":{"type":"array","items":{"type":"string"},"maxItems":10},"author":{"type":"string"},` +
	`"views":{"type":"integer","minimum":0},"score":{"type":"number"},"rating":{"type":"integer","minimum":1,"maximum":5},` +
	`"draft":{"type":"boolean"},"published":{"type":"string","format":"date"},"seq":{"type":"integer"}}}`

// hookTimeoutMS is the timeout_ms of the hook overhead run's bindings.
const hookTimeoutMS = 1000

// typeDefinition is the body of POST /api/types for a type named name with
// typeSchema and, unless module is empty, module bound to the validate
// stage. Names and modules match [a-z0-9_-], so they need no escaping.
func typeDefinition(name, module string) []byte {
	def := `{"name":"` + name + `","schema":` + typeSchema
	if module != "" {
		def += `,"hooks":[{"stage":"validate","module":"` + module + `","timeout_ms":` + strconv.Itoa(hookTimeoutMS) + `}]`
	}
	return []byte(def + "}")
}

// bodyWords is the length of a document's body in words; with titles,
// tags and numbers a document comes to about 1 KiB.
const bodyWords = 100

var (
	// words are all lowercase, so titles are never all caps and the
	// example hook of the hook overhead run allows every document.
	words = []string{
		"storage", "revision", "schema", "version", "resource", "change", "commit", "durable",
		"index", "cursor", "page", "server", "client", "request", "response", "latency",
		"throughput", "document", "history", "journal", "replica", "snapshot", "branch", "merge",
		"window", "harbour", "mountain", "river", "garden", "lantern", "compass", "meadow",
		"quietly", "rapidly", "eventually", "carefully", "brightly", "gently", "openly", "rarely",
		"the", "a", "of", "and", "to", "in", "is", "that", "with", "for", "on", "as", "by", "at",
		"engineer", "archive", "balance", "cathedral", "delivery", "elephant", "festival", "galaxy",
		"horizon", "island", "journey", "kingdom", "library", "machine", "network", "orchestra",
	}
	tags    = []string{"go", "json", "http", "bench", "storage", "news", "draft", "howto", "review", "release"}
	authors = []string{"ada", "grace", "linus", "barbara", "ken", "margaret", "dennis", "frances"}
)

// appendDoc appends a JSON document of about 1 KiB to dst: a title, a
// summary, a body of bodyWords words, tags, numbers, a flag and a date. seq makes
// every document distinct, so an update always changes the data.
func appendDoc(dst []byte, rng *rand.Rand, seq uint64) []byte {
	dst = append(dst, `{"title":"`...)
	dst = appendWords(dst, rng, 6)
	dst = append(dst, `","summary":"`...)
	dst = appendWords(dst, rng, 14)
	dst = append(dst, `","body":"`...)
	dst = appendWords(dst, rng, bodyWords)
	dst = append(dst, `","tags":[`...)
	for i := range 3 {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, tags[rng.IntN(len(tags))]...)
		dst = append(dst, '"')
	}
	dst = append(dst, `],"author":"`...)
	dst = append(dst, authors[rng.IntN(len(authors))]...)
	dst = append(dst, `","views":`...)
	dst = strconv.AppendInt(dst, rng.Int64N(1_000_000), 10)
	dst = append(dst, `,"score":`...)
	dst = strconv.AppendFloat(dst, float64(rng.IntN(100_000))/100, 'f', -1, 64)
	dst = append(dst, `,"rating":`...)
	dst = strconv.AppendInt(dst, int64(1+rng.IntN(5)), 10)
	dst = append(dst, `,"draft":`...)
	dst = strconv.AppendBool(dst, rng.IntN(4) == 0)
	dst = append(dst, `,"published":"`...)
	dst = strconv.AppendInt(dst, int64(2020+rng.IntN(7)), 10)
	dst = append(dst, '-')
	dst = appendTwoDigits(dst, 1+rng.IntN(12))
	dst = append(dst, '-')
	dst = appendTwoDigits(dst, 1+rng.IntN(28))
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	return append(dst, '}')
}

func appendWords(dst []byte, rng *rand.Rand, n int) []byte {
	for i := range n {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, words[rng.IntN(len(words))]...)
	}
	return dst
}

func appendTwoDigits(dst []byte, n int) []byte {
	return append(dst, byte('0'+n/10), byte('0'+n%10))
}

// envelopeID returns the id of a resource envelope without decoding it:
// "id" is the envelope's first member (SPEC §2) and the documents the
// bench writes have no "id" field of their own.
func envelopeID(body []byte) (string, bool) {
	const key = `"id":"`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return "", false
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j <= 0 {
		return "", false
	}
	return string(rest[:j]), true
}
