package core

import (
	"bytes"
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
//	t/<type>         id 0x00 ms (8 bytes BE)       → state entry (asof.go: current revision, deleted, by)
//	hook_modules     module name                   → HookModule JSON (sha256, size, registered_at)
//	hook_code        module name                   → the module's WebAssembly bytes
//	auth_keys        key id                        → auth.Key JSON (name, roles, secret's SHA-256)
//	consumers        consumer name                 → change-log position handled up to (8 bytes BE)
//	webhooks         webhook id                    → webhook JSON (url, selection, whsec_ secret, state)
//	webhook_deliveries webhook id 0x00 attempt (8 bytes BE) → WebhookDelivery JSON (the last 1000 per webhook)
//	blobs            hash                          → blobRecord JSON (size, content type, uploads; blob.go)
//	blob_refs        hash 0x00 type 0x00 id 0x00 rev (4 bytes BE) → "" (a revision names the blob)
//	blob_uploaders   hash 0x00 principal id        → ""
//	blob_bytes       (package blobstore's)         → the bytes of blobs, in chunks, over a shared store
//
// Hook modules registered through the Manager live in two buckets so that
// listing them reads a few bytes each, not megabytes of code. auth_keys
// belongs to package auth, which reaches it only through AuthKeyspace;
// blob_bytes to package blobstore, through BlobBytesKeyspace.
// These are all the buckets; nothing else writes to the store.
const (
	bucketTypes       = "types"
	bucketSys         = "sys"
	bucketChanges     = "changes"
	bucketHookModules = "hook_modules"
	bucketHookCode    = "hook_code"
	bucketAuthKeys    = "auth_keys"
	bucketConsumers   = "consumers"
)

// The webhooks (webhook.go).
const (
	bucketWebhooks          = "webhooks"
	bucketWebhookDeliveries = "webhook_deliveries"
)

var keySeq = []byte("seq")

func metaBucket(typ string) string   { return "m/" + typ }
func revBucket(typ string) string    { return "r/" + typ }
func orderBucket(typ string) string  { return "o/" + typ }
func uniqueBucket(typ string) string { return "u/" + typ }
func refBucket(typ string) string    { return "x/" + typ }
func stateBucket(typ string) string  { return "t/" + typ }

func typeBuckets(typ string) []string {
	return []string{metaBucket(typ), revBucket(typ), orderBucket(typ), uniqueBucket(typ), refBucket(typ), stateBucket(typ)}
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
	raw, err := encodeJSON(v)
	if err != nil {
		return fmt.Errorf("encode %s/%q: %w", bucket, key, err)
	}
	return tx.Put(bucket, key, raw)
}

// encodeJSON is json.Marshal without HTML escaping.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// getMeta reads a resource's meta record; a missing one is
// storage.ErrNotFound.
func getMeta(tx storage.Tx, typ, id string) (*metaRecord, error) {
	raw, err := tx.Get(metaBucket(typ), []byte(id))
	if err != nil {
		return nil, err
	}
	m, err := decodeMeta(raw)
	if err != nil {
		return nil, fmt.Errorf("decode meta of %s/%s: %w", typ, id, err)
	}
	return m, nil
}

func putMeta(tx storage.Tx, typ, id string, m *metaRecord) error {
	return tx.Put(metaBucket(typ), []byte(id), encodeMeta(m))
}

// getRevision reads one revision; a missing one is storage.ErrNotFound.
// Its data is copied out of the transaction: appended to *arena when arena
// is not nil (one buffer for many revisions), else into its own slice.
func getRevision(tx storage.Tx, typ, id string, n int, arena *[]byte) (*revisionRecord, error) {
	raw, err := tx.Get(revBucket(typ), revKey(id, n))
	if err != nil {
		return nil, err
	}
	rec, err := decodeRevisionRecord(raw)
	if err != nil {
		return nil, fmt.Errorf("decode %s/%s revision %d: %w", typ, id, n, err)
	}
	if arena == nil {
		rec.Data = bytes.Clone(rec.Data)
	} else {
		start := len(*arena)
		*arena = append(*arena, rec.Data...)
		rec.Data = (*arena)[start:len(*arena):len(*arena)]
	}
	return rec, nil
}

func putRevision(tx storage.Tx, typ, id string, rec *revisionRecord) error {
	return tx.Put(revBucket(typ), revKey(id, rec.Number), encodeRevisionRecord(rec))
}
