package index

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"

	segment "github.com/blevesearch/scorch_segment_api/v2"

	"github.com/strata-dev/strata/index/filter"
)

// columns caches the sort values of segments: for one field of one
// segment, the doc-value term of every document, decoded once. Reading a
// doc value from the segment decompresses its whole chunk, which made
// sorting a few hundred scattered matches cost a millisecond; a column
// reads in nanoseconds. Segments are immutable, so a column stays valid as
// long as its segment exists; columns of segments that merges replaced are
// dropped when a search sees a snapshot without them. Safe for concurrent
// use.
type columns struct {
	sort  segCache[*column]
	words segCache[*wordIndex] // the words of long texts (longtext.go)
}

// colKey names a cached column. The caches outlive the request that
// named the field, whose name may sit in a buffer the server reuses for
// its next request (fasthttp's), so a key is stored with a copy of the
// name: one that changed under the map would find another field's
// column.
type colKey struct {
	seg   uint64 // SegmentSnapshot.Id
	field string
}

// column is one field's sort values in one segment: value i is
// data[off[i]:off[i+1]], missing when bit i of has is clear. sorted lists
// the documents with a value in the order of their values (then of their
// numbers), built on first use.
type column struct {
	data   []byte
	off    []uint32
	has    []uint64
	once   sync.Once
	sorted []uint32
	// prefixes holds the first eight bytes of each value of sorted, as a
	// big-endian number: comparisons while searching and merging the
	// sorted documents mostly end there, without touching the values.
	prefixes []uint64
}

// order returns the documents with a value, by value.
func (c *column) order() []uint32 {
	c.once.Do(func() {
		n := uint32(len(c.off) - 1)
		for i := range n {
			if c.value(i) != nil {
				c.sorted = append(c.sorted, i)
			}
		}
		slices.SortStableFunc(c.sorted, func(a, b uint32) int { return bytes.Compare(c.value(a), c.value(b)) })
		c.prefixes = make([]uint64, len(c.sorted))
		for j, d := range c.sorted {
			c.prefixes[j] = prefixOf(c.value(d))
		}
	})
	return c.sorted
}

// cmpAt compares the value at position j of the sorted documents with v,
// whose prefix is vp.
func (c *column) cmpAt(j int, v []byte, vp uint64) int {
	switch p := c.prefixes[j]; {
	case p < vp:
		return -1
	case p > vp:
		return 1
	}
	return bytes.Compare(c.value(c.sorted[j]), v)
}

// prefixOf is the first eight bytes of v as a big-endian number, zero
// padded: prefixOf(a) < prefixOf(b) implies a < b.
func prefixOf(v []byte) uint64 {
	var b [8]byte
	copy(b[:], v)
	return binary.BigEndian.Uint64(b[:])
}

func (c *column) value(i uint32) []byte {
	if c.has[i/64]&(1<<(i%64)) == 0 {
		return nil
	}
	return c.data[c.off[i]:c.off[i+1]:c.off[i+1]]
}

// get returns the column of k's field in segment v, building it on first
// use.
func (cs *columns) get(v *segView, k sortKey) (*column, error) {
	return cs.sort.get(v, k.field, func() (*column, error) { return buildColumn(v.seg, k) })
}

// prune drops the columns and word indexes of segments not in s.
func (cs *columns) prune(s *snapshot) {
	cs.sort.prune(s)
	cs.words.prune(s)
}

// segCache holds what is built from one field of one segment on first
// use (a sort column, a word index, an ordinal column): segments are
// immutable, so an entry stays valid as long as its segment exists, and
// prune drops the entries of segments merges replaced. Safe for
// concurrent use.
type segCache[V any] struct {
	mu sync.Mutex
	m  map[colKey]V
}

// get returns the entry of field in segment v, building it on first use.
func (c *segCache[V]) get(v *segView, field string, build func() (V, error)) (V, error) {
	key := colKey{seg: v.ss.Id(), field: field}
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return e, nil
	}
	e, err := build()
	if err != nil {
		return e, err
	}
	key.field = strings.Clone(field) // see colKey
	c.mu.Lock()
	if c.m == nil {
		c.m = map[colKey]V{}
	}
	c.m[key] = e
	c.mu.Unlock()
	return e, nil
}

// prune drops the entries of segments not in s.
func (c *segCache[V]) prune(s *snapshot) {
	live := make(map[uint64]bool, len(s.segs))
	for _, v := range s.segs {
		live[v.ss.Id()] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if !live[k.seg] {
			delete(c.m, k)
		}
	}
}

func buildColumn(seg segment.Segment, k sortKey) (*column, error) {
	n := seg.Count()
	// data is never nil, so an empty value is not a missing one.
	c := &column{data: make([]byte, 0, 16*n), off: make([]uint32, 1, n+1), has: make([]uint64, (n+63)/64)}
	dvv, ok := seg.(segment.DocValueVisitable)
	if !ok {
		c.off = make([]uint32, n+1)
		return c, nil
	}
	fields := []string{k.field}
	var state segment.DocVisitState
	for i := range n {
		found := false
		var err error
		state, err = dvv.VisitDocValues(i, fields, func(_ string, term []byte) {
			if !found && sortTerm(k, term) {
				found = true
				c.data = append(c.data, term...)
			}
		}, state)
		if err != nil {
			return nil, fmt.Errorf("doc values of %s: %w", k.field, err)
		}
		c.off = append(c.off, uint32(len(c.data)))
		if found {
			c.has[i/64] |= 1 << (i % 64)
		}
	}
	return c, nil
}

// sortTerm picks the sort value of a key among the doc-value terms of its
// field: the shift-0 term of a number or time (the only one its field
// holds), the term otherwise.
func sortTerm(k sortKey, term []byte) bool {
	switch k.kind {
	case filter.Number, filter.Time:
		return len(term) > 0 && term[0] == shift0
	}
	return true
}
