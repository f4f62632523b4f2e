package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// idleRollback is how long a connection may sit idle with the snapshot of
// a finished View still open before it is rolled back by a timer. Until
// then the next user of the connection rolls it back in the same round
// trip as its own first statement.
const idleRollback = 50 * time.Millisecond

// conn is a connection of the pool, held by the store between uses.
type conn struct {
	c *pgxpool.Conn
	// open is set when a finished View left its read-only transaction
	// open: the next user ends it first.
	open bool
	// idleGen counts the times the connection went idle, so a timer can
	// tell whether it is still idle since it was set.
	idleGen uint64
}

// conns hands out the pool's connections and keeps those of finished
// Views, with their transactions open, to save each View the round trip
// of its ROLLBACK: the next user of the connection pipelines it with its
// own first statement. Every connection a store uses passes through
// conns, so the pool is never exhausted by connections kept idle here:
// tokens bounds the connections in use, and idle ones count against it
// only while they are in use.
type conns struct {
	pool   *pgxpool.Pool
	tokens chan struct{} // one per connection in use; capacity: the pool's size

	mu     sync.Mutex
	idle   []*conn // most recently used last
	closed bool
}

func newConns(pool *pgxpool.Pool) *conns {
	return &conns{pool: pool, tokens: make(chan struct{}, pool.Config().MaxConns)}
}

// acquire returns an idle connection, or a new one of the pool.
func (cs *conns) acquire(ctx context.Context) (*conn, error) {
	select {
	case cs.tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	cs.mu.Lock()
	if n := len(cs.idle); n > 0 {
		c := cs.idle[n-1]
		cs.idle = cs.idle[:n-1]
		cs.mu.Unlock()
		return c, nil
	}
	cs.mu.Unlock()
	pc, err := cs.pool.Acquire(ctx)
	if err != nil {
		<-cs.tokens
		return nil, err
	}
	return &conn{c: pc}, nil
}

// release makes c idle. A connection that failed (broken) goes back to the
// pool, which drops it when it is not idle at the protocol level.
func (cs *conns) release(c *conn, broken bool) {
	defer func() { <-cs.tokens }()
	if broken || c.c.Conn().IsClosed() {
		c.c.Release()
		return
	}
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		c.c.Release()
		return
	}
	c.idleGen++
	gen, open := c.idleGen, c.open // c is another's once idle
	cs.idle = append(cs.idle, c)
	cs.mu.Unlock()
	if open {
		time.AfterFunc(idleRollback, func() { cs.rollbackIdle(c, gen) })
	}
}

// rollbackIdle ends the open transaction of c if c has been idle since
// generation gen, so an idle connection does not hold a snapshot (and back
// the server's vacuum) for long.
func (cs *conns) rollbackIdle(c *conn, gen uint64) {
	select {
	case cs.tokens <- struct{}{}:
	default:
		return // every connection is in use, so c is not idle
	}
	cs.mu.Lock()
	i := -1
	for j, ic := range cs.idle {
		if ic == c {
			i = j
		}
	}
	if cs.closed || i < 0 || c.idleGen != gen || !c.open {
		cs.mu.Unlock()
		<-cs.tokens
		return
	}
	cs.idle = append(cs.idle[:i], cs.idle[i+1:]...)
	cs.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.c.Exec(ctx, "rollback")
	c.open = false
	cs.release(c, err != nil)
}

// close releases the idle connections to the pool; it is called when no
// transaction is in flight, before the pool closes.
func (cs *conns) close() {
	cs.mu.Lock()
	cs.closed = true
	idle := cs.idle
	cs.idle = nil
	cs.mu.Unlock()
	for _, c := range idle {
		c.c.Release() // the pool drops one with a transaction open
	}
}
