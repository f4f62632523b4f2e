package core

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/strata-dev/strata/sdk/storage"
)

// Storage layout. Type names are [a-z][a-z0-9_]*, so "<kind>/<type>" bucket
// names never collide; ids contain no 0x00, so it separates key parts.
//
//	types            name                          → Type JSON
//	sys              "seq"                         → last change seq (8 bytes BE)
//	sys              "live/<type>", "all/<type>"   → resource counters
//	changes          seq (8 bytes BE)              → Change JSON
//	m/<type>         id                            → metaRecord JSON
//	r/<type>         id 0x00 rev (4 bytes BE)      → revisionRecord JSON
//	o/<type>         created ms (8 bytes BE) id    → "" (list order)
//	u/<type>         field 0x00 value JSON         → id
//	x/<type>         target id 0x00 src type 0x00 src id 0x00 field → ""
const (
	bucketTypes   = "types"
	bucketSys     = "sys"
	bucketChanges = "changes"
)

var keySeq = []byte("seq")

func metaBucket(typ string) string   { return "m/" + typ }
func revBucket(typ string) string    { return "r/" + typ }
func orderBucket(typ string) string  { return "o/" + typ }
func uniqueBucket(typ string) string { return "u/" + typ }
func refBucket(typ string) string    { return "x/" + typ }

func typeBuckets(typ string) []string {
	return []string{metaBucket(typ), revBucket(typ), orderBucket(typ), uniqueBucket(typ), refBucket(typ)}
}

func liveCountKey(typ string) []byte { return []byte("live/" + typ) }
func allCountKey(typ string) []byte  { return []byte("all/" + typ) }

func revKey(id string, n int) []byte {
	k := make([]byte, len(id)+5)
	copy(k, id)
	binary.BigEndian.PutUint32(k[len(id)+1:], uint32(n))
	return k
}

func revPrefix(id string) []byte { return append([]byte(id), 0) }

func revNumber(key []byte) int { return int(binary.BigEndian.Uint32(key[len(key)-4:])) }

func orderKey(createdMS int64, id string) []byte {
	k := make([]byte, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(createdMS))
	copy(k[8:], id)
	return k
}

func orderID(key []byte) string { return string(key[8:]) }

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func refKey(targetID, srcType, srcID, field string) []byte {
	return []byte(targetID + "\x00" + srcType + "\x00" + srcID + "\x00" + field)
}

func refPrefix(targetID string) []byte { return []byte(targetID + "\x00") }

func parseRefKey(key []byte) (Referrer, bool) {
	parts := strings.Split(string(key), "\x00")
	if len(parts) != 4 {
		return Referrer{}, false
	}
	return Referrer{Type: parts[1], ID: parts[2], Field: parts[3]}, true
}

func readUint(tx storage.Tx, bucket string, key []byte) (uint64, error) {
	v, err := tx.Get(bucket, key)
	if err != nil {
		if isNotFound(err) {
			return 0, nil
		}
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("counter %s/%s is corrupt (%d bytes)", bucket, key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func getJSON(tx storage.Tx, bucket string, key []byte, v any) error {
	raw, err := tx.Get(bucket, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s/%q: %w", bucket, key, err)
	}
	return nil
}

func putJSON(tx storage.Tx, bucket string, key []byte, v any) error {
	// canonicalJSON does not HTML-escape, so stored data keeps the exact
	// bytes its hash was computed over.
	raw, err := canonicalJSON(v)
	if err != nil {
		return fmt.Errorf("encode %s/%q: %w", bucket, key, err)
	}
	return tx.Put(bucket, key, raw)
}
