package core

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/strata-dev/strata/sdk/storage"
)

// The shared page of the change feed. Every commit wakes every event
// subscriber; were each to read the new entries in a transaction of its
// own, decode them, look up their resources and encode them, N subscribers
// would cost N times one. Instead the Manager keeps the recent entries,
// read once, with what deciding on them needs (the resource's creator) and
// the resource as each change left it: the first subscriber to want an
// entry past the page's end reads the next entries from the log for all,
// and the others take them from memory. What a principal sees is still
// decided per subscriber and per entry, by decideEvent with the
// permissions and types of now; only the reading is shared. Each distinct
// event (the entry alone, with its resource in full, or with the fields
// its type hides left out) is built once and carries one encoding slot
// (FeedEvent.Encoded), so subscribers that get the same event share its
// encoding too.
//
// The page is bounded (feedRingEntries, feedRingBytes): the oldest entries
// go first, and a subscriber whose position is older than the page reads
// the log itself, as before. A subscriber whose position is past the
// page's end (a new one at the end of the log, while the page is behind)
// restarts the page there.
//
// Subscribers wait through EventsChanged rather than on every commit: one
// goroutine per Manager (the hub, running while anyone waits) follows the
// commits, reads the new entries into the page and wakes the waiters the
// entries may concern (by type), once per read however many changes
// committed together. A subscriber to one type is not woken by writes to
// others, except now and then to move its position along before the page
// drops it.

const (
	// feedRingEntries and feedRingBytes bound the shared page: entries,
	// and an estimate of the memory their documents and encodings take.
	feedRingEntries = 4096
	feedRingBytes   = 8 << 20
	// feedFillEntries is the most entries one read of the log adds.
	feedFillEntries = 512
)

// feedRing is the shared page of recent change-log entries.
type feedRing struct {
	// fill is held by the one subscriber that reads the log for all.
	fill sync.Mutex
	// mu guards the fields below. entries are never changed in place: a
	// fill appends and an eviction reslices, so a slice of them taken
	// under mu stays valid after it is released.
	mu      sync.RWMutex
	valid   bool
	from    uint64 // the page holds every entry with from < seq <= to
	to      uint64
	entries []*feedEntry // oldest first
	bytes   int

	// wmu guards the waiters and the hub's state; taken before mu.
	wmu      sync.Mutex
	waiters  map[*feedWaiter]struct{}
	notified uint64        // the waiters were told of the entries up to this seq
	kick     chan struct{} // a waiter registered; capacity 1
	started  bool          // the hub runs
	closed   bool          // the Manager is closing: no hub starts
	hubDone  sync.WaitGroup
}

// feedWaiter is one subscriber waiting for events after pos.
type feedWaiter struct {
	types []string // empty: every type
	pos   uint64
	ch    chan struct{} // closed, under wmu, to wake it
}

// feedEntry is one change-log entry in the shared page.
type feedEntry struct {
	ch    Change
	found bool   // its resource existed when the entry was read
	owner string // that resource's creator
	res   *Resource
	size  int // an estimate of its memory, for feedRingBytes
	// gone is set when a later purge of the resource is read: from then
	// on it is served as if its resource were not found, as a read of the
	// log would.
	gone atomic.Bool

	bare, full encodedEvent
	redacted   atomic.Pointer[redactedEvent]
}

// redactedEvent is an entry's resource without the fields hidden by ct (the
// type as it was when it was built), with its encoding.
type redactedEvent struct {
	ct      *compiledType
	res     *Resource
	encoded encodedEvent
}

// encodedEvent holds the one encoding of an event shared by subscribers.
type encodedEvent struct {
	once sync.Once
	b    []byte
	err  error
}

// Encoded returns encode(ev). An event taken from the shared page of the
// feed is the same value for every subscriber that gets it, and encode
// runs once for all of them: it must depend on the event only, and every
// caller must pass the same encoding. The bytes returned are shared: the
// caller must not change them.
func (ev *FeedEvent) Encoded(encode func(*FeedEvent) ([]byte, error)) ([]byte, error) {
	if ev.encoded == nil {
		return encode(ev)
	}
	e := ev.encoded
	e.once.Do(func() {
		plain := *ev
		plain.encoded = nil
		e.b, e.err = encode(&plain)
	})
	return e.b, e.err
}

// sharedEvents serves Events from the shared page when since is within it,
// first reading the entries committed since the page's end. ok is false
// when since is older than the page: the caller reads the log itself.
func (m *Manager) sharedEvents(ctx context.Context, p Principal, since uint64, f EventFilter, limit int) (page *EventPage, ok bool, err error) {
	r := &m.feed
	// Everything committed before the call is read into the page first
	// (by one subscriber for all), so that a purge answered before the
	// call is known and the data it removed not served. When one bounded
	// read does not get there (a burst of writes), the caller reads the log
	// itself this time.
	last := m.LastSeq()
	r.mu.RLock()
	inside := r.valid && r.from <= since && since <= r.to
	behind := r.valid && since < r.from
	current := r.to >= last
	r.mu.RUnlock()
	if behind {
		return nil, false, nil
	}
	if !inside || !current {
		if inside, err = m.fillFeed(ctx, since, last); err != nil || !inside {
			return nil, false, err
		}
	}
	r.mu.RLock()
	if since < r.from || r.to < last { // evicted meanwhile, or still behind the log
		r.mu.RUnlock()
		return nil, false, nil
	}
	to := r.to
	i := sort.Search(len(r.entries), func(i int) bool { return r.entries[i].ch.Seq > since })
	view := r.entries[i:]
	r.mu.RUnlock()

	types := m.typeSet()
	page = &EventPage{NextSince: since}
	size := 0
	for n, e := range view {
		if len(page.Items) == limit || n == maxChangeScan || size > maxEventBytes {
			return page, true, nil
		}
		ct := types[e.ch.Type]
		gone := e.gone.Load()
		v, err := decideEvent(p, ct, e.ch, f, func() (string, bool, error) { return e.owner, e.found && !gone, nil })
		if err != nil {
			return nil, true, err
		}
		page.NextSince = e.ch.Seq
		switch {
		case v == eventHidden:
			continue
		case v == eventBare || e.res == nil || gone:
			page.Items = append(page.Items, FeedEvent{Change: e.ch, encoded: &e.bare})
			continue
		}
		ev := FeedEvent{Change: e.ch, Resource: e.res, encoded: &e.full}
		if hidden := hiddenFor(p, ct); hidden != nil {
			red := e.redacted.Load()
			if red == nil || red.ct != ct {
				res, err := redact(hidden, e.res)
				if err != nil {
					return nil, true, err
				}
				red = &redactedEvent{ct: ct, res: res}
				e.redacted.Store(red)
			}
			ev = FeedEvent{Change: e.ch, Resource: red.res, encoded: &red.encoded}
		}
		page.Items = append(page.Items, ev)
		size += len(ev.Resource.Data)
	}
	page.NextSince = max(page.NextSince, to)
	return page, true, nil
}

// fillFeed reads the entries after the page's end into it, up to
// feedFillEntries of them, unless another subscriber did since the caller
// looked; a page that since is past restarts at since. It reports whether
// since is within the page.
func (m *Manager) fillFeed(ctx context.Context, since, last uint64) (bool, error) {
	r := &m.feed
	r.fill.Lock()
	defer r.fill.Unlock()
	r.mu.Lock()
	if !r.valid || since > r.to {
		r.valid, r.from, r.to, r.entries, r.bytes = true, since, since, nil, 0
	}
	inside := r.from <= since
	to := r.to
	r.mu.Unlock()
	if !inside {
		return false, nil
	}
	if to >= last {
		return true, nil // read by another subscriber meanwhile
	}
	var added []*feedEntry
	var erasers []*feedEntry // purges and type drops
	err := m.store.View(ctx, func(tx storage.Tx) error {
		size := 0
		var failed error
		err := tx.Scan(bucketChanges, storage.Range{Start: seqKey(to + 1)}, func(_, v []byte) bool {
			if len(added) == feedFillEntries || size > maxEventBytes {
				return false
			}
			e := &feedEntry{}
			if failed = json.Unmarshal(v, &e.ch); failed != nil {
				failed = fmt.Errorf("decode change: %w", failed)
				return false
			}
			if failed = readFeedEntry(tx, e); failed != nil {
				return false
			}
			if erases(e.ch) {
				erasers = append(erasers, e)
			}
			size += e.size
			added = append(added, e)
			return true
		})
		if err != nil {
			return err
		}
		return failed
	})
	if err != nil {
		return false, fmt.Errorf("read the change log after %d: %w", to, err)
	}
	if len(added) == 0 {
		return true, nil
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	// A purge removes a resource's data, a drop its type's: the entries
	// before it no longer carry them, as a read of the log would no longer
	// find them (nor mistake them for those of a new type of the name).
	for _, x := range erasers {
		for _, list := range [][]*feedEntry{r.entries, added} {
			for _, e := range list {
				if e.ch.Seq < x.ch.Seq && e.ch.Type == x.ch.Type && (x.ch.Action == ActionType || e.ch.ID == x.ch.ID) {
					e.gone.Store(true)
				}
			}
		}
	}
	r.entries = append(r.entries, added...)
	r.to = added[len(added)-1].ch.Seq
	for _, e := range added {
		r.bytes += e.size
	}
	// The oldest entries go, but never those just read.
	for len(r.entries) > len(added) && (len(r.entries) > feedRingEntries || r.bytes > feedRingBytes) {
		r.from = r.entries[0].ch.Seq
		r.bytes -= r.entries[0].size
		r.entries = r.entries[1:]
	}
	return r.from <= since, nil
}

// erases reports whether ch removes data that entries before it carry: a
// purge (the resource's), a type's drop (all of its resources').
func erases(ch Change) bool {
	return ch.Action == ActionPurge || ch.Action == ActionType && ch.Revision == 0
}

// readFeedEntry reads what deciding on e and building its events need: its
// resource's creator and, for an action that carries it, the resource as
// the change left it.
func readFeedEntry(tx storage.Tx, e *feedEntry) error {
	const overhead = 512 // the entry, its events and their encodings, less the documents
	e.size = overhead
	ch := e.ch
	if ch.Action == ActionType || ch.ID == "" {
		return nil // no resource to look up
	}
	meta, err := getMeta(tx, ch.Type, ch.ID)
	switch {
	case isNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("read %s/%s: %w", ch.Type, ch.ID, err)
	}
	e.found, e.owner = true, meta.CreatedBy
	if !withResource(ch.Action) {
		return nil
	}
	rev, err := getRevision(tx, ch.Type, ch.ID, ch.Revision, nil)
	switch {
	case isNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("read %s/%s revision %d: %w", ch.Type, ch.ID, ch.Revision, err)
	}
	e.res = newResource(ch.Type, ch.ID, meta, rev)
	// The document, and up to two encodings of it (in full, redacted).
	e.size += 3 * len(rev.Data)
	return nil
}

// EventsChanged returns a channel that is closed once there may be events
// after position since for a subscription filtered by f, at once when
// there may be some already; stop must be called when the caller no longer
// waits, whether or not the channel was closed. It wakes a subscriber once
// per read of the log however many changes committed together, and not
// for changes to types f leaves out (but for one now and then that moves
// its position along the shared page; Events then returns no events and a
// later position).
func (m *Manager) EventsChanged(since uint64, f EventFilter) (changed <-chan struct{}, stop func()) {
	r := &m.feed
	w := &feedWaiter{types: f.Types, pos: since, ch: make(chan struct{})}
	r.wmu.Lock()
	if r.closed {
		r.wmu.Unlock()
		close(w.ch)
		return w.ch, func() {}
	}
	if !r.started {
		r.started = true
		r.kick = make(chan struct{}, 1)
		r.hubDone.Add(1)
		go m.runFeedHub()
	}
	r.mu.RLock()
	due := r.due(w, 0)
	r.mu.RUnlock()
	if due {
		r.wmu.Unlock()
		close(w.ch)
		return w.ch, func() {}
	}
	if r.waiters == nil {
		r.waiters = map[*feedWaiter]struct{}{}
	}
	r.waiters[w] = struct{}{}
	r.wmu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return w.ch, func() {
		r.wmu.Lock()
		delete(r.waiters, w)
		r.wmu.Unlock()
	}
}

// due reports whether w should be woken: the page holds an entry after
// both w's position and after (0 at registration, the last entry the
// waiters were told of when the hub tells them of new ones) of one of w's
// types, or w's position is older than the page or, once the page is half
// full, in its older half (so that a subscriber to quiet types moves along
// before the page drops its position). r.mu is held.
func (r *feedRing) due(w *feedWaiter, after uint64) bool {
	if !r.valid || w.pos < r.from {
		return true
	}
	n := len(r.entries)
	if n == 0 || w.pos >= r.to {
		return false
	}
	if (n > feedRingEntries/2 || r.bytes > feedRingBytes/2) && w.pos < r.entries[n/2].ch.Seq {
		return true
	}
	start := max(w.pos, after)
	if len(w.types) == 0 {
		return r.to > start
	}
	i := sort.Search(n, func(i int) bool { return r.entries[i].ch.Seq > start })
	for _, e := range r.entries[i:] {
		if slices.Contains(w.types, e.ch.Type) {
			return true
		}
	}
	return false
}

// runFeedHub follows the commits while anyone waits: it reads what they
// add into the shared page and wakes the waiters it concerns.
func (m *Manager) runFeedHub() {
	r := &m.feed
	defer r.hubDone.Done()
	for {
		r.wmu.Lock()
		idle := len(r.waiters) == 0
		r.wmu.Unlock()
		if idle {
			select {
			case <-r.kick:
				continue
			case <-m.done:
				return
			}
		}
		changed := m.Changed()
		failed := m.catchUpFeed(m.LastSeq())
		r.wmu.Lock()
		r.mu.RLock()
		for w := range r.waiters {
			// On a failed read, every waiter reads for itself.
			if failed || r.due(w, r.notified) {
				close(w.ch)
				delete(r.waiters, w)
			}
		}
		r.notified = r.to
		r.mu.RUnlock()
		r.wmu.Unlock()
		select {
		case <-changed:
		case <-r.kick:
		case <-m.done:
			return
		}
	}
}

// catchUpFeed reads the entries up to last into the shared page, once a
// subscriber has started it; it reports whether a read of the log failed.
func (m *Manager) catchUpFeed(last uint64) (failed bool) {
	r := &m.feed
	for {
		r.mu.RLock()
		valid, to := r.valid, r.to
		r.mu.RUnlock()
		if !valid || to >= last {
			return false
		}
		if _, err := m.fillFeed(m.bg, to, last); err != nil {
			m.log.Error("events: read the change log", slog.Uint64("after", to), slog.Any("err", err))
			return true
		}
		r.mu.RLock()
		moved := r.to > to
		r.mu.RUnlock()
		if !moved {
			return false // nothing more to read: the entries were trimmed
		}
	}
}

// closeFeed stops the hub and waits for it: Close calls it, so that
// nothing reads the store once Close returns.
func (m *Manager) closeFeed() {
	r := &m.feed
	r.wmu.Lock()
	r.closed = true
	for w := range r.waiters {
		close(w.ch)
		delete(r.waiters, w)
	}
	r.wmu.Unlock()
	r.hubDone.Wait()
}
