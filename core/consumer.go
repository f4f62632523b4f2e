package core

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-dev/strata/sdk/storage"
)

// A consumer follows the change log on Strata's own authority and keeps
// its position: whatever must see every change once it is committed (the
// after_* hooks, each webhook, the search index) is one. It hands its
// handler the entries in log order, saves the position after they were
// handled, and retries with backoff from the first entry not handled,
// forever: a failure stalls it (visible in its status) but never stops
// it. A crash between handling and saving hands some entries over again,
// so delivery is at least once.
//
// Positions live in the consumers bucket, one key per consumer name, so
// that what trims the change log can find the oldest position any
// consumer still needs; the search index keeps its own with its files
// (ConsumerConfig.Position).

// ConsumerHandler handles entries of the change log, oldest first. It
// returns how many of them it handled: all of them with a nil error; on an
// error, the consumer waits out its backoff and calls it again from
// changes[n].
type ConsumerHandler func(ctx context.Context, changes []Change) (n int, err error)

// ConsumerConfig describes a consumer.
type ConsumerConfig struct {
	// Name identifies the consumer and its saved position: lower-case
	// letters, digits, '_', '-' and '.', at most 128 bytes.
	Name string
	// Title names it in log messages ("after hooks"); Name when empty.
	Title string
	// Handle is called with each page of entries.
	Handle ConsumerHandler
	// Types, when set, is asked before each page which types the consumer
	// wants: nil means all, an empty list none (the position then moves
	// to the end of the log without reading it).
	Types func() []string
	// PageSize is the most entries one Handle call gets; 0 means 200.
	PageSize int
	// Backoff is the wait after a failure: it doubles from BackoffMin
	// (0: 100 ms) up to BackoffMax (0: 30 s). Jitter, when set, waits a
	// random duration of up to that much instead, so that many consumers
	// failing together (webhooks to one receiver) do not retry in step.
	BackoffMin, BackoffMax time.Duration
	Jitter                 bool
	// SaveEvery bounds how stale the saved position may get while entries
	// pass that the consumer does not handle (Types leaves them out); 0
	// means 10 s. A page that was handled is always saved at once.
	SaveEvery time.Duration
	// Position, when set, keeps the consumer's position in place of the
	// store's consumers bucket: a consumer whose output records how far
	// it got (the search index writes its position into each batch, so
	// that index and position cannot disagree after a crash) loads it
	// from there. Save is then called after every page, handled or not,
	// and should be cheap. Such a position is not seen by what trims the
	// change log once the consumer stops: it must hold the log back by
	// other means (the index does, as core.Searcher.Consumed).
	Position ConsumerPosition
	// Idle, when set, is what the consumer does once it has read the
	// whole log, at position seq, in place of waiting for changed (closed
	// when the next entry commits): it returns when the consumer should
	// read again. It may do work of its own there (the index swaps in the
	// indexes it has rebuilt); an error counts as a failure of the
	// consumer, backed off and retried.
	Idle func(ctx context.Context, seq uint64, changed <-chan struct{}) error
	// Gone, when set, is called when the entries after the consumer's
	// position seq were trimmed (changes_retention) and cannot be handed
	// over any more: it resyncs from the current state and returns the
	// position to go on from. Without it the consumer stalls there,
	// retrying, visibly failing.
	Gone func(ctx context.Context, seq uint64) (uint64, error)
	// Lease, over a shared store, makes the consumer run on one node of
	// the cluster at a time: the one holding the lease of its name
	// (cluster.go). The others wait, and the first to find the lease
	// expired takes over from the saved position. A consumer that
	// delivers to the outside (the after_* hooks, a webhook) sets it, so
	// each change is delivered once across the cluster; one that keeps a
	// node's own state (the search index) does not.
	Lease bool
	// Taken, when set, is called on the consumer's goroutine each time
	// it takes its lease, before it handles anything: another node may
	// have handled entries meanwhile, and state kept beside the position
	// (a webhook's attempt count) is reloaded there.
	Taken func(ctx context.Context) error
}

// ConsumerPosition loads and saves a consumer's position where its output
// lives (ConsumerConfig.Position).
type ConsumerPosition interface {
	// Load returns the position to resume from: every entry up to it was
	// handled.
	Load(ctx context.Context) (uint64, error)
	// Save records that every entry up to seq was handled.
	Save(ctx context.Context, seq uint64) error
}

// ConsumerStatus is where a consumer stands.
type ConsumerStatus struct {
	Name string
	// Running is false once the consumer stopped.
	Running bool
	// Seq is the change-log position up to which entries were handled.
	Seq uint64
	// Lag is how many committed entries are past Seq.
	Lag uint64
	// Err is the failure the consumer is retrying, nil when it is
	// healthy; its text may name internals. FailingSince is when the
	// failures began and Failures how many attempts failed since.
	Err          error
	FailingSince time.Time
	Failures     int
}

// Consumer is a running consumer of the change log.
type Consumer struct {
	m      *Manager
	cfg    ConsumerConfig
	cancel context.CancelFunc
	done   chan struct{}

	running atomic.Bool
	seq     atomic.Uint64

	mu       sync.Mutex
	err      error
	since    time.Time
	failures int
}

var consumerName = regexp.MustCompile(`^[a-z0-9_.-]{1,128}$`)

// StartConsumer starts a consumer of the change log. It resumes from the
// consumer's saved position, or from the start of the log for a name not
// seen before. It runs until Stop or until the Manager closes. Two
// running consumers may not share a name.
func (m *Manager) StartConsumer(cfg ConsumerConfig) (*Consumer, error) {
	if !consumerName.MatchString(cfg.Name) {
		return nil, errorf(ErrInvalid, "consumer name %q: use 1 to 128 of a-z 0-9 _ . -", cfg.Name)
	}
	if cfg.Handle == nil {
		return nil, errorf(ErrInvalid, "consumer %s has no handler", cfg.Name)
	}
	if cfg.Title == "" {
		cfg.Title = cfg.Name
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 200
	}
	cfg.PageSize = min(cfg.PageSize, MaxPageSize)
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 100 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 30 * time.Second
	}
	if cfg.SaveEvery <= 0 {
		cfg.SaveEvery = 10 * time.Second
	}
	m.consumersMu.Lock()
	defer m.consumersMu.Unlock()
	if m.consumersClosed {
		return nil, ErrClosed
	}
	if _, ok := m.consumers[cfg.Name]; ok {
		return nil, errorf(ErrConflict, "consumer %s is already running", cfg.Name)
	}
	ctx, cancel := context.WithCancel(AsSystem(m.bg))
	c := &Consumer{m: m, cfg: cfg, cancel: cancel, done: make(chan struct{})}
	c.running.Store(true)
	m.consumers[cfg.Name] = c
	go c.run(ctx)
	return c, nil
}

// Stop stops the consumer and waits until its handler has returned. Its
// saved position is kept: a consumer started again under the same name
// resumes from it.
func (c *Consumer) Stop() {
	c.cancel()
	<-c.done
	c.m.consumersMu.Lock()
	if c.m.consumers[c.cfg.Name] == c {
		delete(c.m.consumers, c.cfg.Name)
	}
	c.m.consumersMu.Unlock()
}

// Status reports the consumer's position, lag and current failure.
func (c *Consumer) Status() ConsumerStatus {
	st := ConsumerStatus{Name: c.cfg.Name, Running: c.running.Load(), Seq: c.seq.Load()}
	if last := c.m.LastSeq(); last > st.Seq {
		st.Lag = last - st.Seq
	}
	c.mu.Lock()
	st.Err, st.FailingSince, st.Failures = c.err, c.since, c.failures
	c.mu.Unlock()
	return st
}

// ForgetConsumer deletes a stopped consumer's saved position, so that it
// no longer holds back the trimming of the change log (a deleted webhook);
// a consumer started again under the name begins at the start of the log.
// A running consumer is ErrConflict; a name with no position is no error.
func (m *Manager) ForgetConsumer(ctx context.Context, name string) error {
	m.consumersMu.Lock()
	defer m.consumersMu.Unlock()
	if _, ok := m.consumers[name]; ok {
		return errorf(ErrConflict, "consumer %s is running; stop it first", name)
	}
	err := m.store.Update(ctx, func(tx storage.Tx) error {
		return tx.Delete(bucketConsumers, consumerKey(name))
	})
	if err != nil {
		return fmt.Errorf("forget consumer %s: %w", name, err)
	}
	return nil
}

// Consumers reports the status of every running consumer.
func (m *Manager) Consumers() []ConsumerStatus {
	m.consumersMu.Lock()
	cs := make([]*Consumer, 0, len(m.consumers))
	for _, c := range m.consumers {
		cs = append(cs, c)
	}
	m.consumersMu.Unlock()
	out := make([]ConsumerStatus, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Status())
	}
	return out
}

// stopConsumers stops every consumer, at Close.
func (m *Manager) stopConsumers() {
	m.consumersMu.Lock()
	cs := make([]*Consumer, 0, len(m.consumers))
	for _, c := range m.consumers {
		cs = append(cs, c)
	}
	m.consumersMu.Unlock()
	for _, c := range cs {
		c.Stop()
	}
}

func consumerKey(name string) []byte { return []byte(name) }

// run follows the change log until ctx is done.
func (c *Consumer) run(ctx context.Context) {
	defer close(c.done)
	defer c.running.Store(false)
	p := consumerProgress{c: c}
	holding := true // the state loaded at start is current
	for {
		changed := c.m.Changed()
		if c.cfg.Lease && c.m.cluster.shared {
			held, err := c.m.holdLease(ctx, "consumer."+c.cfg.Name)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				if c.failed(ctx, err) != nil {
					return
				}
				continue
			}
			if !held {
				// Another node delivers; when it stops, take over from
				// the position it saved.
				p.loaded, holding = false, false
				if c.waitLease(ctx) != nil {
					return
				}
				continue
			}
			if !holding && c.cfg.Taken != nil {
				if err := c.cfg.Taken(ctx); err != nil {
					if c.failed(ctx, fmt.Errorf("take over: %w", err)) != nil {
						return
					}
					continue
				}
			}
			holding = true
		}
		stepCtx, endStep := c.keepLease(ctx)
		more, err := p.step(stepCtx)
		endStep()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if c.failed(ctx, err) != nil {
				return
			}
			continue
		}
		c.recovered(ctx)
		if more {
			continue
		}
		if c.cfg.Idle != nil {
			if err := c.cfg.Idle(ctx, p.seq, changed); err != nil && ctx.Err() == nil {
				if c.failed(ctx, err) != nil {
					return
				}
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// keepLease renews the consumer's lease while a step runs, so a step
// longer than the lease (a slow webhook receiver) does not let another
// node deliver the same entries meanwhile; if the lease is lost all the
// same, the step's context ends. end stops the renewal.
func (c *Consumer) keepLease(ctx context.Context) (stepCtx context.Context, end func()) {
	if !c.cfg.Lease || !c.m.cluster.shared {
		return ctx, func() {}
	}
	stepCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(c.m.cluster.ttl / 4)
		defer t.Stop()
		for {
			select {
			case <-stepCtx.Done():
				return
			case <-t.C:
			}
			held, err := c.m.holdLease(stepCtx, "consumer."+c.cfg.Name)
			if stepCtx.Err() != nil {
				return
			}
			if err == nil && !held {
				cancel() // another node took over: stop delivering
				return
			}
		}
	}()
	return stepCtx, func() { cancel(); <-done }
}

// waitLease waits while another node holds the consumer's lease: a third
// of the lease's time, to find it expired soon after it does.
func (c *Consumer) waitLease(ctx context.Context) error {
	t := time.NewTimer(c.m.cluster.ttl / 3)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// consumerProgress is what only the consumer's goroutine touches.
type consumerProgress struct {
	c       *Consumer
	loaded  bool      // seq was read from the store
	seq     uint64    // position handled up to
	saved   uint64    // position last saved
	savedAt time.Time // when it was saved
	dirty   bool      // entries were handled past saved
}

func (p *consumerProgress) advance(seq uint64) {
	if seq > p.seq {
		p.seq = seq
		p.c.seq.Store(seq)
	}
}

// step hands one page of entries to the handler and saves the position.
// It reports whether the page was full enough that more may follow.
func (p *consumerProgress) step(ctx context.Context) (more bool, err error) {
	c, m := p.c, p.c.m
	if !p.loaded {
		var seq uint64
		var err error
		if c.cfg.Position != nil {
			seq, err = c.cfg.Position.Load(ctx)
		} else {
			seq, err = loadPosition(ctx, m.store, c.cfg.Name)
		}
		if err != nil {
			return false, fmt.Errorf("read position: %w", err)
		}
		p.loaded, p.saved, p.savedAt = true, seq, m.now()
		p.advance(seq)
	}
	var types []string
	if c.cfg.Types != nil {
		types = c.cfg.Types()
	}
	var page *ChangePage
	if types != nil && len(types) == 0 {
		// Nothing wanted: entries committed now will not be wanted later.
		page = &ChangePage{NextSince: max(p.seq, m.LastSeq())}
	} else {
		page, err = m.Changes(ctx, p.seq, types, c.cfg.PageSize)
		if errors.Is(err, ErrGone) && c.cfg.Gone != nil {
			return true, p.resync(ctx)
		}
		if err != nil {
			return false, fmt.Errorf("read change log: %w", err)
		}
		items := page.Items
		for len(items) > 0 {
			n, err := c.cfg.Handle(ctx, items)
			n = max(0, min(n, len(items)))
			if n > 0 {
				p.dirty = true
				p.advance(items[n-1].Seq)
			}
			if err != nil {
				if p.dirty {
					// Keep what was handled, so a crash during the backoff
					// does not hand it over again.
					_ = p.save(ctx)
				}
				return false, err
			}
			if n == 0 {
				return false, fmt.Errorf("handler of %s handled nothing and reported no error", c.cfg.Name)
			}
			items = items[n:]
		}
	}
	p.advance(page.NextSince)
	if p.seq != p.saved && (p.dirty || c.cfg.Position != nil || m.now().Sub(p.savedAt) > c.cfg.SaveEvery) {
		if err := p.save(ctx); err != nil {
			return false, err
		}
	}
	return len(page.Items) > 0, nil
}

// resync hands the consumer's Gone the position whose entries were
// trimmed and goes on from the position it returns.
func (p *consumerProgress) resync(ctx context.Context) error {
	c := p.c
	seq, err := c.cfg.Gone(ctx, p.seq)
	if err != nil {
		return fmt.Errorf("resync after position %d was trimmed: %w", p.seq, err)
	}
	c.m.log.WarnContext(ctx, c.cfg.Title+": its position was trimmed from the change log; resynced from the current state",
		slog.String("consumer", c.cfg.Name), slog.Uint64("from", p.seq), slog.Uint64("to", seq))
	p.seq = seq
	c.seq.Store(seq)
	return p.save(ctx)
}

func (p *consumerProgress) save(ctx context.Context) error {
	m := p.c.m
	// What was handled is saved even when the consumer is being stopped
	// (Stop, Close), so a clean stop hands nothing over twice to whoever
	// resumes: this node after a restart, or another one.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	var err error
	if p.c.cfg.Position != nil {
		err = p.c.cfg.Position.Save(ctx, p.seq)
	} else {
		err = m.store.Update(ctx, func(tx storage.Tx) error {
			if p.c.cfg.Lease {
				// A node that lost its lease does not move the position
				// the new holder goes on from.
				if err := m.checkLease(tx, "consumer."+p.c.cfg.Name); err != nil {
					return err
				}
			}
			return tx.Put(bucketConsumers, consumerKey(p.c.cfg.Name), binary.BigEndian.AppendUint64(nil, p.seq))
		})
		if errors.Is(err, errLeaseLost) {
			p.loaded = false // reload the holder's position once this node holds the lease again
		}
	}
	if err != nil {
		return fmt.Errorf("save position: %w", err)
	}
	p.saved, p.savedAt, p.dirty = p.seq, m.now(), false
	return nil
}

// saveTimeout bounds the saving of a position once the consumer's context
// ended.
const saveTimeout = 5 * time.Second

// loadPosition reads a consumer's saved position: 0 for one never saved.
// The after_* hook runner saved its position under sys/after_hooks before
// it became a consumer; that is where it resumes from until it saves anew.
func loadPosition(ctx context.Context, store storage.Store, name string) (uint64, error) {
	var seq uint64
	err := store.View(ctx, func(tx storage.Tx) error {
		v, err := tx.Get(bucketConsumers, consumerKey(name))
		switch {
		case isNotFound(err) && name == afterHooksConsumer:
			seq, err = readUint(tx, bucketSys, keyLegacyAfterHooks)
			return err
		case isNotFound(err):
			return nil
		case err != nil:
			return err
		case len(v) != 8:
			return fmt.Errorf("position of consumer %s is corrupt (%d bytes)", name, len(v))
		}
		seq = binary.BigEndian.Uint64(v)
		return nil
	})
	return seq, err
}

// failed records a failure, logs it if it starts a streak (a store that
// is down for an hour logs once, not once per retry), and waits out the
// backoff. It returns ctx's error if ctx ends first.
func (c *Consumer) failed(ctx context.Context, err error) error {
	m := c.m
	c.mu.Lock()
	first := c.err == nil
	if first {
		c.since = m.now()
	}
	c.err = err
	c.failures++
	n := c.failures - 1
	c.mu.Unlock()
	if first {
		m.log.ErrorContext(ctx, c.cfg.Title+": stalled; retrying with backoff until it succeeds",
			slog.String("consumer", c.cfg.Name), slog.Uint64("seq", c.seq.Load()), slog.Any("err", err))
	}
	d := c.cfg.BackoffMax
	if n < 32 && c.cfg.BackoffMin<<n > 0 {
		d = min(c.cfg.BackoffMin<<n, c.cfg.BackoffMax)
	}
	if c.cfg.Jitter {
		d = time.Duration(rand.Int64N(int64(d)) + 1)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// recovered ends a failure streak, if any, and logs that it ended.
func (c *Consumer) recovered(ctx context.Context) {
	c.mu.Lock()
	if c.err == nil {
		c.mu.Unlock()
		return
	}
	since, failures := c.since, c.failures
	c.err, c.since, c.failures = nil, time.Time{}, 0
	c.mu.Unlock()
	c.m.log.InfoContext(ctx, c.cfg.Title+": resumed", slog.String("consumer", c.cfg.Name),
		slog.Uint64("seq", c.seq.Load()), slog.Int("failures", failures), slog.Duration("stalled", c.m.now().Sub(since)))
}
