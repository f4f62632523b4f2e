package bolt

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/strata-dev/strata/sdk/storage/driver"
)

// request is one Update waiting for the committer.
type request struct {
	ctx  context.Context
	fn   func(tx driver.Tx) error
	done chan outcome // buffered; receives exactly one outcome

	// ran is set once fn has been called; from then on ctx no longer
	// matters. Only the committer touches it.
	ran bool
}

// outcome is the answer to a request.
type outcome struct {
	err        error
	panicked   bool
	panicValue any
}

// run is the committer: the only goroutine that opens bolt write
// transactions. It first finishes pending, a group inherited from a
// committer that ended (see commitGroup), then serves s.reqs until Close.
func (s *store) run(pending []*request) {
	if len(pending) > 0 {
		s.commitGroup(pending)
	}
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
			// Close stops the committer only when no Update is in flight,
			// so the queue is empty.
			close(s.stopped)
			return
		}
	}
}

// commitGroup runs the functions of group, in order, in one bolt write
// transaction, commits it once and answers every member. A member whose
// function fails or panics is answered alone, and the rest are run again in
// a fresh transaction.
func (s *store) commitGroup(group []*request) {
	start := time.Now()
	logCtx := group[0].ctx
	size := len(group)
	var (
		btx      *bbolt.Tx
		current  *request // the member whose fn is running
		runs     int
		finished bool
	)
	defer func() {
		if finished {
			return
		}
		// Only runtime.Goexit in a member's fn gets here: panics are
		// recovered by call. This goroutine is ending and cannot be saved, so
		// answer that member, and hand the rest of the group to a new
		// committer.
		if btx != nil {
			_ = btx.Rollback()
		}
		rest := slices.Clone(group)
		if current != nil {
			current.done <- outcome{err: fmt.Errorf("bolt store %s: %w", s.path, errGoexit)}
			rest = slices.DeleteFunc(rest, func(r *request) bool { return r == current })
		}
		go s.run(rest)
	}()

	for len(group) > 0 {
		var err error
		btx, err = s.db.Begin(true)
		if err != nil {
			btx = nil
			answer(group, outcome{err: noSpace(fmt.Errorf("bolt store %s: begin write transaction: %w", s.path, err))})
			break
		}
		failed := -1
		var failure outcome
		for i := 0; i < len(group); {
			r := group[i]
			if !r.ran {
				if err := r.ctx.Err(); err != nil {
					r.done <- outcome{err: err} // nothing written yet: skip it
					group = slices.Delete(group, i, i+1)
					continue
				}
				r.ran = true
			}
			current = r
			runs++
			o := call(btx, r.fn)
			current = nil
			if o.err != nil || o.panicked {
				failed, failure = i, o
				break
			}
			i++
		}
		if failed >= 0 || len(group) == 0 {
			_ = btx.Rollback()
			btx = nil
			if failed >= 0 {
				group[failed].done <- failure
				group = slices.Delete(group, failed, failed+1)
			}
			continue // replay the others, if any
		}
		err = btx.Commit()
		btx = nil
		s.commits.Add(1)
		if err != nil {
			// A commit that failed wrote no meta page: bolt rolled it back
			// and the file holds the previous commit.
			err = noSpace(fmt.Errorf("bolt store %s: commit: %w", s.path, err))
		}
		answer(group, outcome{err: err})
		break
	}
	finished = true
	s.runs.Add(uint64(runs))
	s.log.LogAttrs(logCtx, slog.LevelDebug, "bolt group commit",
		slog.Int("updates", size), slog.Int("runs", runs), slog.Duration("took", time.Since(start)))
}

// call runs fn in btx with a Tx that ends when fn returns, and turns a
// panic into an outcome so the committer survives it.
func call(btx *bbolt.Tx, fn func(tx driver.Tx) error) (o outcome) {
	t := &tx{btx: btx}
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
