package storagetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/strata-dev/strata/sdk/storage"
)

// scanKeys are the keys of the range checks, in order.
var scanKeys = []string{"a", "b", "c", "d", "e"}

func testScanForward(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", pairsFor("c", "a", "e", "b", "d")...)
	wantPairs(t, "Scan", scan(t, e.ctx, e.s, "b", storage.Range{}), scanKeys)
}

func testScanReverse(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", pairsFor("c", "a", "e", "b", "d")...)
	wantPairs(t, "reverse Scan", scan(t, e.ctx, e.s, "b", storage.Range{Reverse: true}), reversed(scanKeys))
}

func testScanRange(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", pairsFor(scanKeys...)...)
	put(t, e.ctx, e.s, "a", pairsFor("x")...)  // a neighbouring bucket below
	put(t, e.ctx, e.s, "bb", pairsFor("x")...) // and above
	tests := []struct {
		name       string
		start, end string // "-" means nil
		want       []string
	}{
		{"unbounded", "-", "-", scanKeys},
		{"startInclusive", "b", "-", []string{"b", "c", "d", "e"}},
		{"startBetweenKeys", "bb", "-", []string{"c", "d", "e"}},
		{"startBeforeFirst", "0", "-", scanKeys},
		{"startAfterLast", "z", "-", nil},
		{"endExclusive", "-", "d", []string{"a", "b", "c"}},
		{"endBetweenKeys", "-", "cc", []string{"a", "b", "c"}},
		{"endAfterLast", "-", "z", scanKeys},
		{"endAtFirst", "-", "a", nil},
		{"endBeforeFirst", "-", "0", nil},
		{"both", "b", "d", []string{"b", "c"}},
		{"singleKey", "c", "c\x00", []string{"c"}},
		{"startEqualsEnd", "c", "c", nil},
		{"startAfterEnd", "d", "b", nil},
		{"emptyStart", "", "c", []string{"a", "b"}},
	}
	bound := func(s string) []byte {
		if s == "-" {
			return nil
		}
		return []byte(s)
	}
	for _, tt := range tests {
		for _, reverse := range []bool{false, true} {
			name := tt.name
			want := tt.want
			if reverse {
				name += "/reverse"
				want = reversed(want)
			}
			t.Run(name, func(t *testing.T) {
				r := storage.Range{Start: bound(tt.start), End: bound(tt.end), Reverse: reverse}
				got := scan(t, e.ctx, e.s, "b", r)
				wantPairs(t, "Scan"+fmtRange(r), got, want)
			})
		}
	}
}

func testScanPrefix(t *testing.T, e *env) {
	keys := []string{
		"a", "a\x00", "a\x01", "a\xff", "a\xff\x00", "a\xff\xff", "ab", "b",
		"\xfe", "\xfe\xff", "\xfe\xff\x00", "\xff", "\xff\x00", "\xff\xfe", "\xff\xff", "\xff\xff\x01",
		"\x00", "\x00\xff",
	}
	put(t, e.ctx, e.s, "b", pairsFor(keys...)...)
	put(t, e.ctx, e.s, "bb", pairsFor("\xff\xff\xff")...) // must not leak into "b"
	sorted := slices.Clone(keys)
	slices.Sort(sorted) // Go string order is bytewise
	tests := []struct {
		name   string
		prefix string
	}{
		{"letter", "a"},
		{"endsIn0xff", "a\xff"},
		{"single0xff", "\xff"},
		{"all0xff", "\xff\xff"},
		{"0xfeThen0xff", "\xfe\xff"},
		{"zeroByte", "\x00"},
		{"wholeKey", "ab"},
		{"noMatch", "c"},
		{"empty", ""},
	}
	for _, tt := range tests {
		var want []string
		for _, k := range sorted {
			if strings.HasPrefix(k, tt.prefix) {
				want = append(want, k)
			}
		}
		for _, reverse := range []bool{false, true} {
			name := tt.name
			if reverse {
				name += "/reverse"
			}
			t.Run(name, func(t *testing.T) {
				r := storage.PrefixRange([]byte(tt.prefix))
				r.Reverse = reverse
				w := want
				if reverse {
					w = reversed(want)
				}
				wantPairs(t, fmt.Sprintf("Scan(PrefixRange(%q), reverse %v)", tt.prefix, reverse), scan(t, e.ctx, e.s, "b", r), w)
			})
		}
	}
}

func testScanEarlyStop(t *testing.T, e *env) {
	var keys []string
	for i := range 100 {
		keys = append(keys, fmt.Sprintf("k%03d", i))
	}
	put(t, e.ctx, e.s, "b", pairsFor(keys...)...)
	tests := []struct {
		name    string
		r       storage.Range
		stopAt  int
		wantKey string
	}{
		{"first", storage.Range{}, 1, "k000"},
		{"middle", storage.Range{}, 10, "k009"},
		{"reverseFirst", storage.Range{Reverse: true}, 1, "k099"},
		{"reverseMiddle", storage.Range{Reverse: true}, 10, "k090"},
		{"bounded", storage.Range{Start: []byte("k050"), End: []byte("k060")}, 3, "k052"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view(t, e.ctx, e.s, func(tx storage.Tx) error {
				calls := 0
				var last string
				err := tx.Scan("b", tt.r, func(k, _ []byte) bool {
					calls++
					last = string(k)
					return calls < tt.stopAt
				})
				if err != nil {
					return err
				}
				if calls != tt.stopAt || last != tt.wantKey {
					t.Errorf("fn returned false on call %d: Scan made %d calls ending at %q, want %d ending at %q",
						tt.stopAt, calls, last, tt.stopAt, tt.wantKey)
				}
				return nil
			})
		})
	}
}

func testScanMissingBucket(t *testing.T, e *env) {
	put(t, e.ctx, e.s, "b", pairsFor("k")...)
	ranges := []storage.Range{
		{},
		{Reverse: true},
		storage.PrefixRange([]byte("k")),
		{Start: []byte("a"), End: []byte("z"), Reverse: true},
	}
	check := func(tx storage.Tx) error {
		for _, bucket := range []string{"missing", "bb", "c"} {
			for _, r := range ranges {
				calls := 0
				if err := tx.Scan(bucket, r, func(_, _ []byte) bool { calls++; return true }); err != nil {
					return fmt.Errorf("Scan(%q) of a missing bucket: %w, want nil", bucket, err)
				}
				if calls != 0 {
					t.Errorf("Scan(%q, %s) of a missing bucket called fn %d times, want 0", bucket, fmtRange(r), calls)
				}
			}
		}
		return nil
	}
	view(t, e.ctx, e.s, check)
	update(t, e.ctx, e.s, check)
}

func testScanBinaryKeys(t *testing.T, e *env) {
	set := map[string]bool{}
	for _, k := range []string{
		"\x00", "\x00\x00", "\x00\x01", "\x01", "\x7f", "\x80", "\xfe", "\xff", "\xff\x00", "\xff\xff",
		"a", "a\x00", "a\x00\x00", "aa", "A", "é", "z", "\x00\xff\x00\xff",
	} {
		set[k] = true
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		b := make([]byte, 1+rng.IntN(8))
		for i := range b {
			// Mostly extreme bytes, so keys share prefixes of 0x00 and 0xff.
			switch rng.IntN(3) {
			case 0:
				b[i] = 0x00
			case 1:
				b[i] = 0xff
			default:
				b[i] = byte(rng.IntN(256))
			}
		}
		set[string(b)] = true
	}
	var keys []string
	for k := range set {
		keys = append(keys, k)
	}
	put(t, e.ctx, e.s, "bin", pairsFor(keys...)...)
	slices.SortFunc(keys, func(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) })

	wantPairs(t, "Scan of binary keys", scan(t, e.ctx, e.s, "bin", storage.Range{}), keys)
	wantPairs(t, "reverse Scan of binary keys", scan(t, e.ctx, e.s, "bin", storage.Range{Reverse: true}), reversed(keys))
	view(t, e.ctx, e.s, func(tx storage.Tx) error {
		for _, k := range keys {
			v, err := tx.Get("bin", []byte(k))
			if err != nil {
				return fmt.Errorf("get %q: %w", k, err)
			}
			if string(v) != valueFor(k) {
				t.Errorf("Get(bin, %q) = %q, want %q", k, v, valueFor(k))
			}
		}
		return nil
	})
}

func testScanThenModify(t *testing.T, e *env) {
	var keys []string
	for i := range 2000 {
		keys = append(keys, fmt.Sprintf("k%05d", i))
	}
	put(t, e.ctx, e.s, "b", pairsFor(keys...)...)
	// Collect inside Scan, change after it returns, as the contract asks.
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		var odd [][]byte
		err := tx.Scan("b", storage.Range{}, func(k, _ []byte) bool {
			if (k[len(k)-1]-'0')%2 == 1 {
				odd = append(odd, bytes.Clone(k))
			}
			return true
		})
		if err != nil {
			return err
		}
		for _, k := range odd {
			if err := tx.Delete("b", k); err != nil {
				return err
			}
		}
		return nil
	})
	var even []string
	for _, k := range keys {
		if (k[len(k)-1]-'0')%2 == 0 {
			even = append(even, k)
		}
	}
	wantPairs(t, "Scan after deleting odd keys", scan(t, e.ctx, e.s, "b", storage.Range{}), even)
}

func testScanWhileWritingOtherBucket(t *testing.T, e *env) {
	var keys, withOld []string
	for i := range 2000 {
		k := fmt.Sprintf("k%04d", i)
		keys = append(keys, k)
		withOld = append(withOld, k, k+"-old")
	}
	// Scan forbids modifying the scanned bucket, not the others. For every
	// key of src, copy it into a bucket that sorts before src and one that
	// sorts after it, and replace a third bucket wholesale (DeleteBucket,
	// then Put): once with src committed earlier, and once with all the
	// buckets written by the same Update just before the Scan.
	lo := func(src string) string { return "0" + src }
	hi := func(src string) string { return "z" + src }
	scratch := func(src string) string { return "1" + src }
	copyDuringScan := func(tx storage.Tx, src string) error {
		var putErr error
		seen := 0
		err := tx.Scan(src, storage.Range{}, func(k, v []byte) bool {
			seen++
			if putErr = tx.Put(lo(src), k, v); putErr != nil {
				return false
			}
			if putErr = tx.Put(hi(src), k, v); putErr != nil {
				return false
			}
			if putErr = tx.DeleteBucket(scratch(src)); putErr != nil {
				return false
			}
			putErr = tx.Put(scratch(src), k, v)
			return putErr == nil
		})
		if err != nil {
			return err
		}
		if putErr != nil {
			return fmt.Errorf("write to another bucket during Scan: %w", putErr)
		}
		if seen != len(keys) {
			t.Errorf("Scan(%q) while writing other buckets visited %d keys, want %d", src, seen, len(keys))
		}
		return nil
	}
	writeOld := func(tx storage.Tx, buckets ...string) error {
		for _, b := range buckets {
			for _, k := range keys {
				if err := tx.Put(b, []byte(k+"-old"), []byte(valueFor(k+"-old"))); err != nil {
					return err
				}
			}
		}
		return nil
	}

	put(t, e.ctx, e.s, "committed", pairsFor(keys...)...)
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		return writeOld(tx, scratch("committed"))
	})
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		return copyDuringScan(tx, "committed")
	})
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		if err := writeOld(tx, "fresh", lo("fresh"), hi("fresh"), scratch("fresh")); err != nil {
			return err
		}
		if err := tx.DeleteBucket("fresh"); err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Put("fresh", []byte(k), []byte(valueFor(k))); err != nil {
				return err
			}
		}
		return copyDuringScan(tx, "fresh")
	})

	last := keys[len(keys)-1:]
	tests := []struct {
		bucket string
		want   []string
	}{
		{"committed", keys},
		{lo("committed"), keys},
		{hi("committed"), keys},
		{scratch("committed"), last},
		{"fresh", keys},
		{lo("fresh"), withOld},
		{hi("fresh"), withOld},
		{scratch("fresh"), last},
	}
	for _, tt := range tests {
		wantPairs(t, "Scan("+tt.bucket+")", scan(t, e.ctx, e.s, tt.bucket, storage.Range{}), tt.want)
	}
}

func testValuesValidUntilTxEnd(t *testing.T, e *env) {
	var keys []string
	for i := range 200 {
		keys = append(keys, fmt.Sprintf("k%03d-%s", i, strings.Repeat("x", i%37)))
	}
	put(t, e.ctx, e.s, "b", pairsFor(keys...)...)

	// Slices from Get stay valid until the transaction ends, across later
	// Gets and Scans; copies taken during Scan stay correct afterwards.
	check := func(tx storage.Tx) error {
		held := map[string][]byte{}
		for _, k := range keys[:20] {
			v, err := tx.Get("b", []byte(k))
			if err != nil {
				return err
			}
			held[k] = v
		}
		var copies []kv
		err := tx.Scan("b", storage.Range{}, func(k, v []byte) bool {
			copies = append(copies, kv{string(k), string(v)})
			return true
		})
		if err != nil {
			return err
		}
		for _, k := range keys[100:120] {
			if _, err := tx.Get("b", []byte(k)); err != nil {
				return err
			}
		}
		wantPairs(t, "values copied during Scan", copies, keys)
		for k, v := range held {
			if string(v) != valueFor(k) {
				t.Errorf("slice returned by Get(b, %q) changed before the transaction ended: %q", k, v)
			}
		}
		return nil
	}
	view(t, e.ctx, e.s, check)
	update(t, e.ctx, e.s, check)

	// In an Update, writing other keys does not disturb slices already read.
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		v, err := tx.Get("b", []byte(keys[0]))
		if err != nil {
			return err
		}
		for i := range 1000 {
			if err := tx.Put("b", fmt.Appendf(nil, "new%04d", i), bytes.Repeat([]byte{'n'}, 100)); err != nil {
				return err
			}
		}
		if string(v) != valueFor(keys[0]) {
			t.Errorf("slice returned by Get changed after Puts of other keys in the same Update: %q", v)
		}
		return nil
	})
}
