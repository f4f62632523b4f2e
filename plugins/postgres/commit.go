package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/strata-dev/strata/sdk/storage/driver"
)

// request is one Update waiting for the committer.
type request struct {
	ctx  context.Context
	fn   func(tx driver.Tx) error
	done chan outcome // buffered; receives exactly one outcome
}

// outcome is the answer to a request.
type outcome struct {
	err        error
	panicked   bool
	panicValue any
}

// errGoexit answers an Update whose fn called runtime.Goexit.
var errGoexit = errors.New("postgres: update function called runtime.Goexit")

// beginWrite begins a write transaction and takes the write lock, in one
// round trip (the simple protocol runs both statements).
var beginWrite = "begin isolation level read committed; select pg_advisory_xact_lock(" +
	strconv.FormatInt(WriteLockKey, 10) + ")"

// run is the committer: it gathers the Updates waiting and commits them as
// one group, until Close.
func (s *store) run() {
	defer close(s.stopped)
	for {
		select {
		case r := <-s.reqs:
			group := []*request{r}
		drain:
			for len(group) < s.maxBatch {
				select {
				case r := <-s.reqs:
					group = append(group, r)
				default:
					break drain
				}
			}
			s.commitGroup(group)
		case <-s.stop:
			return // Close stops the committer only when no Update is in flight
		}
	}
}

// commitGroup runs the functions of group, in order, in one write
// transaction and commits their writes at once. A member whose function
// fails or panics is answered alone and its writes dropped; the others
// are answered with the outcome of the commit.
func (s *store) commitGroup(group []*request) {
	start := time.Now()
	size := len(group)
	var (
		pending  []*request // members whose writes wait for the commit
		current  *request   // the member whose fn is running
		finished bool
	)
	defer func() {
		if !finished {
			// Only runtime.Goexit in a member's fn gets here (call recovers
			// panics). Answer everyone: the goroutine is ending, and the
			// transaction with it. A new committer takes over.
			answer(group, outcome{err: errGoexit})
			answer(pending, outcome{err: errGoexit})
			if current != nil {
				current.done <- outcome{err: errGoexit}
			}
			go s.run()
		}
	}()

	bg := context.Background()
	c, err := s.conns.acquire(bg)
	if err != nil {
		answer(group, outcome{err: fmt.Errorf("postgres: acquire connection: %w", err)})
		finished = true
		return
	}
	conn := c.c
	broken := true // until the transaction has ended cleanly
	defer func() { s.conns.release(c, broken) }()
	begin := beginWrite
	if c.open { // a View's snapshot is still open
		begin = "rollback; " + begin
		c.open = false
	}
	if _, err := conn.Conn().PgConn().Exec(bg, begin).ReadAll(); err != nil {
		answer(group, outcome{err: wrapErr("begin write transaction", err)})
		finished = true
		return
	}
	groupLayer := layer{}
	t := &tx{ctx: bg, conn: conn.Conn(), read: map[string]map[string][]byte{}, queries: &s.queries}
	for len(group) > 0 {
		r := group[0]
		group = group[1:]
		if err := r.ctx.Err(); err != nil {
			r.done <- outcome{err: err} // nothing ran: skip it
			continue
		}
		t.layers = []layer{groupLayer, {}}
		current = r
		o := call(t, r.fn)
		current = nil
		if t.err != nil {
			// The server aborted the transaction under this member: nothing
			// of the group can commit.
			if o.err == nil && !o.panicked {
				o.err = fmt.Errorf("%w: %w", errTxFailed, t.err)
			}
			r.done <- o
			answer(pending, outcome{err: fmt.Errorf("%w: %w", errTxFailed, t.err)})
			answer(group, outcome{err: fmt.Errorf("%w: %w", errTxFailed, t.err)})
			pending, group = nil, nil
			break
		}
		if o.err != nil || o.panicked {
			r.done <- o
			continue
		}
		t.layers[1].mergeInto(groupLayer)
		pending = append(pending, r)
	}
	t.layers = nil
	if t.err == nil && len(pending) > 0 {
		err = s.flush(conn.Conn(), groupLayer)
		s.commits.Add(1)
		answer(pending, outcome{err: err})
		broken = err != nil
	} else {
		_, err = conn.Exec(bg, "rollback")
		broken = err != nil || t.err != nil
	}
	finished = true
	s.log.LogAttrs(bg, slog.LevelDebug, "postgres group commit",
		slog.Int("updates", size), slog.Duration("took", time.Since(start)))
}

// flush writes l to the database and commits, pipelined in one round trip.
// On failure it rolls back.
func (s *store) flush(conn *pgx.Conn, l layer) error {
	var (
		delBuckets       [][]byte
		delB, delK       [][]byte
		putB, putK, putV [][]byte
	)
	for _, name := range slices.Sorted(maps.Keys(l)) {
		b := l[name]
		bucket := []byte(name)
		if b.cleared {
			delBuckets = append(delBuckets, bucket)
		}
		for k, v := range b.writes {
			switch {
			case v != nil:
				putB, putK, putV = append(putB, bucket), append(putK, []byte(k)), append(putV, v)
			case !b.cleared:
				delB, delK = append(delB, bucket), append(delK, []byte(k))
			}
		}
	}
	bg := context.Background()
	batch := &pgx.Batch{}
	if len(delBuckets) > 0 {
		batch.Queue("delete from strata_kv where bucket = any($1::bytea[])", delBuckets)
	}
	if len(delK) > 0 {
		batch.Queue(`delete from strata_kv k using unnest($1::bytea[], $2::bytea[]) as d(bucket, key)
			where k.bucket = d.bucket and k.key = d.key`, delB, delK)
	}
	if len(putK) > 0 {
		batch.Queue(`insert into strata_kv (bucket, key, value)
			select * from unnest($1::bytea[], $2::bytea[], $3::bytea[])
			on conflict (bucket, key) do update set value = excluded.value`, putB, putK, putV)
	}
	batch.Queue("select pg_notify('" + notifyChannel + "', '')") // sent at the commit (notify.go)
	batch.Queue("commit")
	err := conn.SendBatch(bg, batch).Close()
	if err != nil {
		_, _ = conn.Exec(bg, "rollback")
		return wrapErr("commit", err)
	}
	return nil
}

// call runs fn over t and turns a panic into an outcome, so the committer
// survives it.
func call(t *tx, fn func(tx driver.Tx) error) (o outcome) {
	returned := false
	defer func() {
		if !returned {
			// recover is nil only under runtime.Goexit, which cannot be
			// stopped; commitGroup deals with it.
			if v := recover(); v != nil {
				o = outcome{panicked: true, panicValue: v}
			}
		}
	}()
	err := fn(t)
	returned = true
	return outcome{err: err}
}

// answer sends o to every member of group.
func answer(group []*request, o outcome) {
	for _, r := range group {
		r.done <- o
	}
}
