package core

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/strata-dev/strata/sdk/storage"
)

// Change-log retention (SPEC §8). The change log would grow forever; the
// trimmer deletes, from its start, the entries that are older than the
// retention and that nothing still needs: every durable consumer (the
// after_* hook runner, each webhook, any other StartConsumer) has saved a
// position past them, and the search index has applied them. A consumer
// that is stopped, failing or far behind keeps every entry after its
// saved position, however old, and shows as lagging (Consumers,
// AfterHooksStatus, ChangeLog). Subscribers of the feed
// (GET /api/events) hold their position themselves and keep nothing: one
// that comes back after its position was trimmed is told to resync
// (Changes and Events fail with ErrGone).
//
// The highest trimmed seq is kept in sys/changes_trimmed, so that a
// position before it is known to be gone even once the log is empty.

// DefaultChangesRetention is the retention strata serve uses when its
// configuration sets none: a week.
const DefaultChangesRetention = 168 * time.Hour

// trimInterval is how often the trimmer runs; trimBatch bounds the entries
// one of its transactions deletes, so that writes wait for it briefly.
const (
	trimInterval = time.Minute
	trimBatch    = 1000
)

// keyTrimmed holds (in bucket sys) the seq of the last entry trimmed.
var keyTrimmed = []byte("changes_trimmed")

// holderIndex names the search index as what holds the log back.
const holderIndex = "search index"

// TrimResult is what a TrimChanges did.
type TrimResult struct {
	// Trimmed is how many entries it deleted.
	Trimmed int
	// Through is the seq of the last entry trimmed so far, by this call or
	// an earlier one: positions below it cannot be resumed from.
	Through uint64
	// HeldBy names what kept the trim below the newest entry: a consumer
	// ("consumer <name>") or the search index; empty when nothing did.
	// HeldAt is its position.
	HeldBy string
	HeldAt uint64
}

// TrimChanges deletes the change-log entries older than the retention
// (Options.ChangesRetention) that every consumer and the search index have
// consumed, oldest first, stopping at the first entry that is either too
// young or still needed. Without a retention it deletes nothing. The
// Manager runs it every minute; it is exported for operators and tests.
func (m *Manager) TrimChanges(ctx context.Context) (TrimResult, error) {
	if m.closed.Load() {
		return TrimResult{}, ErrClosed
	}
	var res TrimResult
	floor, by, err := m.consumedFloor(ctx)
	if err != nil {
		return res, err
	}
	if by != "" {
		res.HeldBy, res.HeldAt = by, floor
	}
	if m.retention <= 0 {
		err := m.store.View(ctx, func(tx storage.Tx) error {
			var err error
			res.Through, err = readUint(tx, bucketSys, keyTrimmed)
			return err
		})
		return res, err
	}
	cutoff := m.now().Add(-m.retention)
	for {
		n, through, err := m.trimSome(ctx, floor, cutoff)
		res.Trimmed += n
		res.Through = through
		if err != nil {
			return res, fmt.Errorf("trim the change log: %w", err)
		}
		if n < trimBatch || ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
}

// trimSome deletes, in one transaction, up to trimBatch entries from the
// start of the log with a seq of at most floor written before cutoff. It
// returns how many it deleted and the last seq trimmed so far.
func (m *Manager) trimSome(ctx context.Context, floor uint64, cutoff time.Time) (n int, through uint64, err error) {
	err = m.store.Update(ctx, func(tx storage.Tx) error {
		n = 0
		var err error
		if through, err = readUint(tx, bucketSys, keyTrimmed); err != nil {
			return err
		}
		var keys [][]byte
		err = tx.Scan(bucketChanges, storage.Range{End: seqKey(floor + 1)}, func(k, v []byte) bool {
			if len(keys) == trimBatch {
				return false
			}
			// Entries are in commit order, so their times barely go back;
			// the first one young enough ends the trim.
			if at, err := time.Parse(timeLayout, gjson.GetBytes(v, "at").String()); err == nil && !at.Before(cutoff) {
				return false
			}
			keys = append(keys, bytes.Clone(k))
			return true
		})
		if err != nil || len(keys) == 0 {
			return err
		}
		for _, k := range keys {
			if err := tx.Delete(bucketChanges, k); err != nil {
				return err
			}
		}
		last := binary.BigEndian.Uint64(keys[len(keys)-1])
		if last > through {
			through = last
			if err := tx.Put(bucketSys, keyTrimmed, seqKey(last)); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	return n, through, err
}

// consumedFloor is the position up to which everything that follows the
// change log has consumed it, and what holds it there (empty when it is
// the newest entry). A consumer counts with its saved position, which is
// where it resumes after a crash, and, while it runs, with the one in
// memory (0 until it has read its saved one).
func (m *Manager) consumedFloor(ctx context.Context) (floor uint64, by string, err error) {
	floor = m.LastSeq() // read first: nothing past it can have been consumed
	lower := func(seq uint64, name string) {
		if seq < floor {
			floor, by = seq, name
		}
	}
	err = m.store.View(ctx, func(tx storage.Tx) error {
		afterSaved := false
		err := tx.Scan(bucketConsumers, storage.Range{}, func(k, v []byte) bool {
			seq := uint64(0) // a corrupt position holds everything
			if len(v) == 8 {
				seq = binary.BigEndian.Uint64(v)
			}
			lower(seq, "consumer "+string(k))
			afterSaved = afterSaved || string(k) == afterHooksConsumer
			return true
		})
		if err != nil || afterSaved {
			return err
		}
		// The after_* hook runner resumes from its legacy position until it
		// saves a new one (loadPosition).
		v, err := tx.Get(bucketSys, keyLegacyAfterHooks)
		switch {
		case isNotFound(err):
			return nil
		case err != nil:
			return err
		}
		seq := uint64(0)
		if len(v) == 8 {
			seq = binary.BigEndian.Uint64(v)
		}
		lower(seq, "consumer "+afterHooksConsumer)
		return nil
	})
	if err != nil {
		return 0, "", fmt.Errorf("read the consumers' positions: %w", err)
	}
	for _, st := range m.Consumers() {
		lower(st.Seq, "consumer "+st.Name)
	}
	if m.search != nil {
		lower(m.search.Consumed(), holderIndex)
	}
	return floor, by, nil
}

// trimTick returns the periodic trim (every trimInterval). When something
// starts holding back entries older than the retention, that is logged
// once (not at every tick): the tick remembers what it last logged.
func (m *Manager) trimTick() func(ctx context.Context) error {
	held := ""
	return func(ctx context.Context) error {
		res, err := m.TrimChanges(ctx)
		if err != nil {
			return err
		}
		if res.Trimmed > 0 {
			m.log.DebugContext(ctx, "change log: trimmed", slog.Int("entries", res.Trimmed), slog.Uint64("through", res.Through))
		}
		// Held back only matters when the entry after the hold is old.
		stuck := ""
		if res.HeldBy != "" && res.Trimmed < trimBatch {
			if old, err := m.olderThanRetention(ctx, res.HeldAt+1); err == nil && old {
				stuck = res.HeldBy
			}
		}
		if stuck != "" && stuck != held {
			m.log.WarnContext(ctx, "change log: entries older than changes_retention are kept for a consumer that has not read them",
				slog.String("held_by", stuck), slog.Uint64("position", res.HeldAt), slog.Uint64("last_seq", m.LastSeq()))
		}
		held = stuck
		return nil
	}
}

// olderThanRetention reports whether entry seq exists and is older than
// the retention.
func (m *Manager) olderThanRetention(ctx context.Context, seq uint64) (bool, error) {
	old := false
	err := m.store.View(ctx, func(tx storage.Tx) error {
		v, err := tx.Get(bucketChanges, seqKey(seq))
		switch {
		case isNotFound(err):
			return nil
		case err != nil:
			return err
		}
		at, err := time.Parse(timeLayout, gjson.GetBytes(v, "at").String())
		old = err == nil && at.Before(m.now().Add(-m.retention))
		return nil
	})
	return old, err
}

// checkTrimmed fails with ErrGone when position since is before the
// trimmed part of the log: the entries after it are partly gone. Position
// 0 asks for everything there is, so it is never gone.
func checkTrimmed(tx storage.Tx, since uint64) error {
	if since == 0 {
		return nil
	}
	through, err := readUint(tx, bucketSys, keyTrimmed)
	if err != nil {
		return err
	}
	if since < through {
		return errorf(ErrGone, "position %d is gone: the change log was trimmed through %d (changes_retention); resync from the resources, then follow from a newer position", since, through)
	}
	return nil
}

// ChangeLogStatus is where the change log stands and what follows it.
type ChangeLogStatus struct {
	// LastSeq is the newest entry; TrimmedThrough the last one trimmed
	// (positions before it cannot be resumed from).
	LastSeq, TrimmedThrough uint64
	// Retention is Options.ChangesRetention; 0 keeps every entry.
	Retention time.Duration
	// HeldBy names what holds the oldest entry still needed ("consumer
	// <name>" or "search index"), HeldAt its position; empty when
	// everything consumed the whole log.
	HeldBy string
	HeldAt uint64
	// Consumers are the running consumers, by name.
	Consumers []ConsumerStatus
	// Node is this node's id and Leases the leases stored, by name, when
	// the store is shared by several nodes (both empty otherwise): which
	// node runs each consumer and periodic job.
	Node   string
	Leases []LeaseStatus
}

// LeaseStatus is a lease as stored: Node runs the consumer or job Name
// until Expires unless it renews the lease.
type LeaseStatus struct {
	Name    string
	Node    string
	Expires time.Time
}

// ChangeLog reports the change log's positions and its consumers, to
// administrators only: consumer names carry webhook ids. Anyone else gets
// the error RequireAdmin gives.
func (m *Manager) ChangeLog(ctx context.Context) (ChangeLogStatus, error) {
	if err := RequireAdmin(ctx); err != nil {
		return ChangeLogStatus{}, err
	}
	if m.closed.Load() {
		return ChangeLogStatus{}, ErrClosed
	}
	st := ChangeLogStatus{LastSeq: m.LastSeq(), Retention: m.retention}
	floor, by, err := m.consumedFloor(ctx)
	if err != nil {
		return st, err
	}
	if by != "" {
		st.HeldBy, st.HeldAt = by, floor
	}
	err = m.store.View(ctx, func(tx storage.Tx) error {
		var err error
		if st.TrimmedThrough, err = readUint(tx, bucketSys, keyTrimmed); err != nil || !m.Shared() {
			return err
		}
		st.Node = m.NodeID()
		return scanLeases(tx, func(name string, rec leaseRecord) {
			st.Leases = append(st.Leases, LeaseStatus{Name: name, Node: rec.Node, Expires: rec.Expires})
		})
	})
	if err != nil {
		return st, fmt.Errorf("read the trimmed position: %w", err)
	}
	st.Consumers = m.Consumers()
	slices.SortFunc(st.Consumers, func(a, b ConsumerStatus) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}
