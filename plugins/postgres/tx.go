package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/strata-dev/strata/sdk/storage/driver"
)

// layer holds the writes of one Update (or of a committing group) by
// bucket, not yet sent to the server.
type layer map[string]*bucketWrites

// bucketWrites are the pending writes of one bucket in a layer.
type bucketWrites struct {
	// cleared means the bucket was deleted in this layer: nothing below
	// the layer (lower layers, the database) is visible.
	cleared bool
	// writes maps a key to its new value; nil is a deletion. Values put
	// are never nil (the storage wrapper turns nil into []byte{}).
	writes map[string][]byte
}

// bucket returns the writes of name in l, creating them.
func (l layer) bucket(name string) *bucketWrites {
	b := l[name]
	if b == nil {
		b = &bucketWrites{writes: map[string][]byte{}}
		l[name] = b
	}
	return b
}

// mergeInto applies l's writes on top of dst.
func (l layer) mergeInto(dst layer) {
	for name, b := range l {
		if b.cleared {
			dst[name] = b
			continue
		}
		d := dst.bucket(name)
		maps.Copy(d.writes, b.writes)
	}
}

// tx is a driver.Tx. A View's reads run in the connection's REPEATABLE
// READ transaction, begun with the first read. An Update's writes go to
// layers (the group's, then the member's on top) and its reads see them
// over the database, read in the group's write transaction.
type tx struct {
	ctx   context.Context
	conn  *pgx.Conn
	view  bool
	begun bool // a View's transaction has begun
	// rollbackFirst: the connection still has the transaction of an
	// earlier View open; the View's first query ends it.
	rollbackFirst bool
	// broken: a statement failed, so the connection's state is unknown.
	broken bool
	layers []layer // bottom to top; the top one takes writes
	// err is the first error of the connection in an Update: the server
	// has aborted the transaction, so the group must not commit.
	err error
	// read caches the database's answers to an Update's Gets for the
	// whole group, by bucket and key (nil: the key is missing). Under the
	// write lock only this group changes the database, and its writes
	// are still in the layers, so what was read stays true until the
	// commit: the members of a group read the keys they share (the
	// change-log seq, counters, type definitions) once.
	read map[string]map[string][]byte
	// queries counts the round trips of the store's transactions, for
	// tests.
	queries *atomic.Uint64
}

// top is the layer taking t's writes.
func (t *tx) top() layer { return t.layers[len(t.layers)-1] }

// fail records the first error of an Update's connection and returns err.
func (t *tx) fail(err error) error {
	t.broken = true
	if t.err == nil && !t.view {
		t.err = err
	}
	return err
}

// query runs sql and hands each row to scan. A View's first query is
// pipelined behind the BEGIN of its snapshot.
func (t *tx) query(sql string, args []any, scan func(rows pgx.Rows) error) error {
	if t.err != nil {
		return fmt.Errorf("postgres: transaction failed earlier: %w", t.err)
	}
	t.queries.Add(1)
	var (
		rows pgx.Rows
		br   pgx.BatchResults
		err  error
	)
	if t.view && !t.begun {
		t.begun = true
		b := &pgx.Batch{}
		if t.rollbackFirst {
			b.Queue("rollback")
		}
		b.Queue("begin isolation level repeatable read read only")
		b.Queue(sql, args...)
		br = t.conn.SendBatch(t.ctx, b)
		for range b.Len() - 1 {
			if _, err = br.Exec(); err != nil {
				_ = br.Close()
				return t.fail(wrapErr("begin read transaction", err))
			}
		}
		rows, err = br.Query()
	} else {
		rows, err = t.conn.Query(t.ctx, sql, args...)
	}
	if err == nil {
		for rows.Next() {
			if err = scan(rows); err != nil {
				break
			}
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if br != nil {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return t.fail(wrapErr("query", err))
	}
	return nil
}

// known answers a Get of key from what t holds without asking the
// database: the layers, top first, then the group's reads. ok is false
// when only the database knows; otherwise val is the value, nil when the
// key is missing.
func (t *tx) known(bucket string, key []byte) (val []byte, ok bool) {
	for i := len(t.layers) - 1; i >= 0; i-- {
		if b := t.layers[i][bucket]; b != nil {
			if v, ok := b.writes[string(key)]; ok {
				return v, true
			}
			if b.cleared {
				return nil, true
			}
		}
	}
	v, ok := t.read[bucket][string(key)]
	return v, ok
}

// remember records the database's answer for key in the group's reads
// (an Update's only): val, or nil for a missing key.
func (t *tx) remember(bucket string, key, val []byte) {
	if t.read == nil {
		return
	}
	cached := t.read[bucket]
	if cached == nil {
		cached = map[string][]byte{}
		t.read[bucket] = cached
	}
	cached[string(key)] = val
}

// Get looks key up in the layers, top first, then in the database.
func (t *tx) Get(bucket string, key []byte) ([]byte, error) {
	if v, ok := t.known(bucket, key); ok {
		if v == nil {
			return nil, driver.ErrNotFound
		}
		return v, nil
	}
	var (
		val   []byte
		found bool
	)
	err := t.query("select value from strata_kv where bucket = $1 and key = $2",
		[]any{[]byte(bucket), key}, func(rows pgx.Rows) error {
			found = true
			return rows.Scan(&val)
		})
	if err != nil {
		return nil, err
	}
	if found && val == nil {
		val = []byte{}
	}
	t.remember(bucket, key, val)
	if !found {
		return nil, driver.ErrNotFound
	}
	return val, nil
}

// GetMany answers the keys it can as Get does, from the layers and the
// group's reads, and reads the others from the database in one query
// (see getManySQL).
func (t *tx) GetMany(keys []driver.Key, fn func(i int, value []byte)) error {
	vals := make([][]byte, len(keys))
	var (
		buckets []string           // of the keys only the database knows
		ask     [][][]byte         // those keys by bucket, each once
		asked   = map[string]int{} // bucket 0x00 key → index in got
		where   = map[string]int{} // bucket → index in buckets
		got     [][]byte           // the database's values, by asked
	)
	ref := func(bucket string, key []byte) string { return bucket + "\x00" + string(key) }
	for i, k := range keys {
		if v, ok := t.known(k.Bucket, k.Key); ok {
			vals[i] = v
			continue
		}
		r := ref(k.Bucket, k.Key)
		if _, ok := asked[r]; ok {
			continue
		}
		asked[r] = len(got)
		got = append(got, nil)
		b, ok := where[k.Bucket]
		if !ok {
			b = len(buckets)
			where[k.Bucket] = b
			buckets, ask = append(buckets, k.Bucket), append(ask, nil)
		}
		ask[b] = append(ask[b], k.Key)
	}
	if len(buckets) > 0 {
		args := make([]any, 0, 2*len(buckets))
		for b, name := range buckets {
			args = append(args, []byte(name), ask[b])
		}
		err := t.query(getManySQL(len(buckets)), args, func(rows pgx.Rows) error {
			var (
				b    int32
				k, v []byte
			)
			if err := rows.Scan(&b, &k, &v); err != nil {
				return err
			}
			if v == nil {
				v = []byte{}
			}
			if j, ok := asked[ref(buckets[b], k)]; ok {
				got[j] = v
			}
			return nil
		})
		if err != nil {
			return err
		}
		for b, name := range buckets {
			for _, k := range ask[b] {
				t.remember(name, k, got[asked[ref(name, k)]])
			}
		}
		for i, k := range keys {
			if j, ok := asked[ref(k.Bucket, k.Key)]; ok {
				vals[i] = got[j]
			}
		}
	}
	for i, v := range vals {
		if v != nil {
			fn(i, v)
		}
	}
	return nil
}

// getManySQL is the query reading keys of n buckets: one index scan of
// the primary key per bucket, with the bucket's keys as an array
// ($1 bucket 0's name, $2 its keys, $3 bucket 1's name...). Each row is
// the bucket's number, a key and its value. PostgreSQL plans this as
// cheaply as a lookup of one key per bucket, where a join with the arrays
// unnested costs it several times more.
func getManySQL(n int) string {
	var sb strings.Builder
	for b := range n {
		if b > 0 {
			sb.WriteString(" union all ")
		}
		fmt.Fprintf(&sb, "select %d::int4, key, value from strata_kv where bucket = $%d and key = any($%d::bytea[])", b, 2*b+1, 2*b+2)
	}
	return sb.String()
}

// MaxKeySize is the longest bucket name and key, together, this backend
// stores: PostgreSQL's B-tree refuses index entries over 2704 bytes (a
// third of a page, less headers), and every key is in the primary key's
// index. It is less than storage.MaxKeySize; longer keys are
// storage.ErrInvalid, reported by the Put, not by the commit of the group.
const MaxKeySize = 2600

// Put records the write in the top layer.
func (t *tx) Put(bucket string, key, value []byte) error {
	if len(bucket)+len(key) > MaxKeySize {
		return fmt.Errorf("%w: postgres: bucket name and key of %d bytes are longer than %d", driver.ErrInvalid, len(bucket)+len(key), MaxKeySize)
	}
	t.top().bucket(bucket).writes[string(key)] = value
	return nil
}

// Delete records the deletion in the top layer.
func (t *tx) Delete(bucket string, key []byte) error {
	t.top().bucket(bucket).writes[string(key)] = nil
	return nil
}

// DeleteBucket hides everything below the top layer for bucket.
func (t *tx) DeleteBucket(bucket string) error {
	t.top()[bucket] = &bucketWrites{cleared: true, writes: map[string][]byte{}}
	return nil
}

// pending is one entry of the layers, for Scan: a value, or a deletion
// when val is nil.
type pending struct {
	key string
	val []byte
}

// pendingIn returns the net pending writes of bucket within r in scan
// order, and whether they hide the database's keys (the bucket was
// deleted in a layer).
func (t *tx) pendingIn(bucket string, r driver.Range) (out []pending, hidden bool) {
	var net map[string][]byte
	for _, l := range t.layers {
		b := l[bucket]
		if b == nil {
			continue
		}
		if b.cleared {
			hidden = true
			net = nil
		}
		if net == nil {
			net = map[string][]byte{}
		}
		maps.Copy(net, b.writes)
	}
	for k, v := range net {
		if inRange([]byte(k), r) {
			out = append(out, pending{k, v})
		}
	}
	slices.SortFunc(out, func(a, b pending) int {
		if r.Reverse {
			return strings.Compare(b.key, a.key)
		}
		return strings.Compare(a.key, b.key)
	})
	return out, hidden
}

// inRange reports whether Start <= k < End.
func inRange(k []byte, r driver.Range) bool {
	return (r.Start == nil || bytes.Compare(k, r.Start) >= 0) && (r.End == nil || bytes.Compare(k, r.End) < 0)
}

// Scan pages through the database's keys of bucket within r (keyset
// pagination, so fn may read and write between pages on the same
// connection) and merges them with the pending writes.
func (t *tx) Scan(bucket string, r driver.Range, fn func(key, value []byte) bool) error {
	pend, hidden := t.pendingIn(bucket, r)
	// less reports whether key a comes before b in scan order.
	less := func(a, b []byte) bool {
		if r.Reverse {
			return bytes.Compare(a, b) > 0
		}
		return bytes.Compare(a, b) < 0
	}
	emit := func(k, v []byte) bool { // a pending entry, skipping deletions
		if v == nil {
			return true
		}
		return fn(k, v)
	}
	var (
		after   []byte // the last key of the previous page
		page    = 32
		started bool
	)
	for !hidden {
		rows, err := t.page(bucket, r, after, started, page)
		if err != nil {
			return err
		}
		started = true
		for _, row := range rows {
			for len(pend) > 0 && !less(row[0], []byte(pend[0].key)) {
				p := pend[0]
				pend = pend[1:]
				if p.key == string(row[0]) {
					row = [2][]byte{row[0], p.val} // pending write replaces it
					break
				}
				if !emit([]byte(p.key), p.val) {
					return nil
				}
			}
			if row[1] == nil {
				continue // deleted in a layer
			}
			if !fn(row[0], row[1]) {
				return nil
			}
		}
		if len(rows) < page {
			break
		}
		after = rows[len(rows)-1][0]
		page = min(page*4, 1024)
	}
	for _, p := range pend {
		if !emit([]byte(p.key), p.val) {
			return nil
		}
	}
	return nil
}

// page reads up to limit rows of bucket within r, in scan order, after the
// key after when started.
func (t *tx) page(bucket string, r driver.Range, after []byte, started bool, limit int) ([][2][]byte, error) {
	var (
		sb   strings.Builder
		args = []any{[]byte(bucket)}
	)
	sb.WriteString("select key, value from strata_kv where bucket = $1")
	cond := func(op string, v []byte) {
		args = append(args, v)
		fmt.Fprintf(&sb, " and key %s $%d", op, len(args))
	}
	if !r.Reverse {
		switch {
		case started:
			cond(">", after)
		case r.Start != nil:
			cond(">=", r.Start)
		}
		if r.End != nil {
			cond("<", r.End)
		}
		sb.WriteString(" order by key")
	} else {
		switch {
		case started:
			cond("<", after)
		case r.End != nil:
			cond("<", r.End)
		}
		if r.Start != nil {
			cond(">=", r.Start)
		}
		sb.WriteString(" order by key desc")
	}
	args = append(args, limit)
	fmt.Fprintf(&sb, " limit $%d", len(args))
	out := make([][2][]byte, 0, limit)
	err := t.query(sb.String(), args, func(rows pgx.Rows) error {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		if v == nil {
			v = []byte{}
		}
		out = append(out, [2][]byte{k, v})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// errTxFailed marks a group whose transaction failed under a member.
var errTxFailed = errors.New("postgres: write transaction failed")
var _ driver.Batcher = (*tx)(nil)
