package storagetest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/strata-dev/strata/sdk/storage"
)

func testConcurrentIncrements(t *testing.T, e *env) {
	const workers, perWorker = 16, 25
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			<-start
			for range perWorker {
				if err := e.s.Update(e.ctx, increment); err != nil {
					t.Errorf("Update: %v", err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if got, want := counter(t, e.ctx, e.s), uint64(workers*perWorker); got != want {
		t.Errorf("after %d concurrent read-modify-write increments the counter is %d, want %d", want, got, want)
	}
}

// outcome is how a member of runMixed's concurrent Updates ends.
type outcome int

const (
	succeed outcome = iota
	fail
	panics
)

// memberError is the error a failing member of runMixed returns, so the
// check can tell that each caller got its own error and not a neighbour's.
type memberError struct {
	id int
}

func (e *memberError) Error() string {
	return fmt.Sprintf("storagetest: update %d failed as planned", e.id)
}

func (e *memberError) Unwrap() error { return errPlanned }

// runMixed runs workers × perWorker concurrent Updates. Each increments the
// counter and writes its own key, then ends as plan says. Afterwards exactly
// the succeeding Updates must be visible, each exactly once.
func runMixed(t *testing.T, e *env, workers, perWorker int, plan func(id int) outcome) {
	t.Helper()
	var (
		mu        sync.Mutex
		succeeded []string
	)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range perWorker {
				id := w*perWorker + i
				key := fmt.Sprintf("m%04d", id)
				want := plan(id)
				var err error
				recovered := recoverPanic(func() {
					err = e.s.Update(e.ctx, func(tx storage.Tx) error {
						if err := increment(tx); err != nil {
							return err
						}
						if err := tx.Put("members", []byte(key), []byte(valueFor(key))); err != nil {
							return err
						}
						switch want {
						case fail:
							return &memberError{id: id}
						case panics:
							panic(&panicToken{id: id})
						}
						return nil
					})
				})
				switch want {
				case succeed:
					if err != nil || recovered != nil {
						t.Errorf("update %d: err %v, panic %v; want success", id, err, recovered)
						continue
					}
					mu.Lock()
					succeeded = append(succeeded, key)
					mu.Unlock()
				case fail:
					var me *memberError
					if !errors.As(err, &me) || me.id != id || recovered != nil {
						t.Errorf("update %d: err %v, panic %v; want its own planned error", id, err, recovered)
					}
				case panics:
					tok, _ := recovered.(*panicToken)
					if tok == nil || tok.id != id {
						t.Errorf("update %d: err %v, panic %v; want its own panic re-raised", id, err, recovered)
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(succeeded)
	if got, want := counter(t, e.ctx, e.s), uint64(len(succeeded)); got != want {
		t.Errorf("counter = %d, want %d: each succeeding Update counted exactly once, failed ones not at all", got, want)
	}
	wantPairs(t, "keys written by concurrent Updates", scan(t, e.ctx, e.s, "members", storage.Range{}), succeeded)
}

func testConcurrentUpdatesWithErrors(t *testing.T, e *env) {
	runMixed(t, e, 16, 12, func(id int) outcome {
		if id%3 == 1 {
			return fail
		}
		return succeed
	})
}

func testConcurrentUpdatesWithPanics(t *testing.T, e *env) {
	runMixed(t, e, 16, 12, func(id int) outcome {
		switch {
		case id%4 == 1:
			return panics
		case id%5 == 2:
			return fail
		}
		return succeed
	})
}

// accounts is the number of accounts testConsistentSnapshotsUnderLoad moves
// money between; each starts with startBalance.
const (
	accounts     = 10
	startBalance = 100
)

func accountKey(i int) []byte { return fmt.Appendf(nil, "acct%02d", i) }

func readAccount(tx storage.Tx, i int) (uint64, error) {
	v, err := tx.Get("accounts", accountKey(i))
	if err != nil {
		return 0, fmt.Errorf("read account %d: %w", i, err)
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("read account %d: %d bytes, want 8", i, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func testConsistentSnapshotsUnderLoad(t *testing.T, e *env) {
	update(t, e.ctx, e.s, func(tx storage.Tx) error {
		for i := range accounts {
			if err := tx.Put("accounts", accountKey(i), binary.BigEndian.AppendUint64(nil, startBalance)); err != nil {
				return err
			}
		}
		return nil
	})
	const total = accounts * startBalance
	transfer := func(from, to int, amount uint64) func(tx storage.Tx) error {
		return func(tx storage.Tx) error {
			a, err := readAccount(tx, from)
			if err != nil {
				return err
			}
			b, err := readAccount(tx, to)
			if err != nil {
				return err
			}
			if a < amount {
				return nil // insufficient funds: commit nothing
			}
			if err := tx.Put("accounts", accountKey(from), binary.BigEndian.AppendUint64(nil, a-amount)); err != nil {
				return err
			}
			return tx.Put("accounts", accountKey(to), binary.BigEndian.AppendUint64(nil, b+amount))
		}
	}
	audit := func(tx storage.Tx) error {
		var sum uint64
		n := 0
		var bad error
		err := tx.Scan("accounts", storage.Range{}, func(_, v []byte) bool {
			if len(v) != 8 {
				bad = fmt.Errorf("account value has %d bytes", len(v))
				return false
			}
			sum += binary.BigEndian.Uint64(v)
			n++
			return true
		})
		if err != nil {
			return err
		}
		if bad != nil {
			return bad
		}
		if n != accounts || sum != total {
			t.Errorf("a View saw %d accounts holding %d in total, want %d holding %d", n, sum, accounts, total)
		}
		var got uint64
		for i := range accounts {
			b, err := readAccount(tx, i)
			if err != nil {
				return err
			}
			got += b
		}
		if got != total {
			t.Errorf("a View's Gets add up to %d, want %d", got, total)
		}
		return nil
	}

	const writers, perWriter, readers = 8, 30, 4
	start := make(chan struct{})
	writersDone := make(chan struct{})
	var writerWG, readerWG sync.WaitGroup
	for w := range writers {
		writerWG.Go(func() {
			<-start
			for i := range perWriter {
				from := (w*7 + i*3) % accounts
				to := (w*3 + i*7 + 1) % accounts
				if from == to {
					continue
				}
				if err := e.s.Update(e.ctx, transfer(from, to, uint64(1+(w+i)%5))); err != nil {
					t.Errorf("transfer: %v", err)
					return
				}
			}
		})
	}
	for range readers {
		readerWG.Go(func() {
			<-start
			// Audit until the writers are done, and at least a few times.
			for i := 0; ; i++ {
				select {
				case <-writersDone:
					if i >= 5 {
						return
					}
				default:
				}
				if err := e.s.View(e.ctx, audit); err != nil {
					t.Errorf("audit: %v", err)
					return
				}
			}
		})
	}
	close(start)
	writerWG.Wait()
	close(writersDone)
	readerWG.Wait()
	view(t, e.ctx, e.s, audit)
}
