package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Nodes sharing a database learn of each other's commits by polling the
// change log (core follows it); NOTIFY only wakes them early. Every commit
// pipelines a NOTIFY on notifyChannel before its COMMIT (PostgreSQL sends
// it when, and only if, the transaction commits), and a listener on a
// connection of its own hands each one on to Commits as a hint. A lost
// notification or a listener that is down costs at most one poll
// interval; nothing relies on them.

// notifyChannel is the channel commits are announced on.
const notifyChannel = "strata_commits"

// Commits makes the store shared (driver.Shared): any number of Strata
// nodes may open one database. The channel receives a value soon after a
// commit of any node, this one's included.
//
// The listener (one more connection) starts at the first call: a store
// nobody follows (a command-line tool's, a test's) does not hold one.
func (s *store) Commits() <-chan struct{} {
	s.listenOnce.Do(func() {
		s.listening = make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		s.stopListening = cancel
		go s.listen(ctx, s.connCfg)
	})
	return s.hints
}

// listen receives the notifications of commits until ctx ends,
// reconnecting after a failure.
func (s *store) listen(ctx context.Context, cfg *pgx.ConnConfig) {
	defer close(s.listening)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenConn(ctx, cfg)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("postgres: listening for other nodes' commits failed; they are still seen by polling",
			slog.Any("err", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (s *store) listenConn(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "listen "+notifyChannel); err != nil {
		return err
	}
	s.hint() // commits may have been missed while it was not listening
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.hint()
	}
}

// hint wakes whoever follows Commits, without blocking.
func (s *store) hint() {
	select {
	case s.hints <- struct{}{}:
	default:
	}
}
