package core

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/strata-dev/strata/sdk/storage"
)

// The change feed as one principal sees it (SPEC §8): the events of
// GET /api/events. Unlike Changes, which leaves out the types a principal
// may read only by ownership (an entry does not say who owns its
// resource), Events looks up each entry's resource and decides per entry,
// so an owner-only principal gets the events of its own resources. Every
// decision is taken here; the server only renders what it gets.

// FeedEvent is one change-log entry as a principal may see it: the entry and,
// for a create, update, restore or switch, the resource as that change
// left it (its data and revision are the change's; its meta is the
// resource's current one), with the fields hidden from the principal left
// out. Resource is nil when that revision no longer exists (purged, or
// pruned by revision retention).
type FeedEvent struct {
	Change
	Resource *Resource `json:"resource,omitempty"`

	// encoded, when set, is shared by every subscriber that gets this
	// same event from the shared page of the feed (feedring.go).
	encoded *encodedEvent
}

// AppendJSON appends the event's JSON: the change entry's members, then
// "resource" when it carries one, as encoding/json would write them with
// HTML escaping off. The feed and every webhook delivery encode events
// this way, without reflection.
func (ev *FeedEvent) AppendJSON(dst []byte) []byte {
	dst = appendChange(dst, &ev.Change)
	if ev.Resource == nil {
		return dst
	}
	dst = append(dst[:len(dst)-1], `,"resource":`...)
	dst = ev.Resource.AppendJSON(dst)
	return append(dst, '}')
}

// MarshalJSON encodes the event as AppendJSON does.
func (ev FeedEvent) MarshalJSON() ([]byte, error) {
	size := 200
	if ev.Resource != nil {
		size += len(ev.Resource.Data) + 400
	}
	return ev.AppendJSON(make([]byte, 0, size)), nil
}

// EventPage is one page of events.
type EventPage struct {
	Items []FeedEvent
	// NextSince is the position to read from next: past every entry read,
	// including those the principal may not see.
	NextSince uint64
}

// EventFilter is what a subscriber asked for.
type EventFilter struct {
	// Types are the types asked for; empty means every type the principal
	// may read.
	Types []string
}

// maxEventBytes bounds the resource data one Events page holds: a page
// stops after the entry that passes it, so a subscriber never holds more
// than this plus one document.
const maxEventBytes = 1 << 20

// CheckEvents checks a subscription before it starts: every type asked
// for must exist and be readable by ctx's principal (the same answer as a
// list of it would get), and an anonymous principal with nothing to read
// is told a credential could help.
func (m *Manager) CheckEvents(ctx context.Context, f EventFilter) error {
	if m.closed.Load() {
		return ErrClosed
	}
	p := PrincipalFrom(ctx)
	for _, typ := range f.Types {
		if _, _, err := m.allowType(ctx, typ, PermRead); err != nil {
			return err
		}
	}
	if len(f.Types) == 0 && !p.Authenticated() && !p.IsAdmin() {
		for _, t := range m.Types() {
			if !t.Grant(p, PermRead).None() {
				return nil
			}
		}
		return errorf(ErrUnauthenticated, "this request needs credentials")
	}
	return nil
}

// ChangeLogBounds returns the oldest retained entry's seq (0 when the log
// is empty) and the newest committed one's, read in one transaction: a
// position p can be resumed from when oldest-1 <= p <= last.
func (m *Manager) ChangeLogBounds(ctx context.Context) (oldest, last uint64, err error) {
	if m.closed.Load() {
		return 0, 0, ErrClosed
	}
	err = m.store.View(ctx, func(tx storage.Tx) error {
		var err error
		if last, err = readUint(tx, bucketSys, keySeq); err != nil {
			return err
		}
		return tx.Scan(bucketChanges, storage.Range{}, func(k, _ []byte) bool {
			if len(k) == 8 {
				oldest = binary.BigEndian.Uint64(k)
			}
			return false
		})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read the change log's bounds: %w", err)
	}
	return oldest, last, nil
}

// Events returns the events after position since that ctx's principal may
// see, oldest first, at most limit of them (0: 100), reading at most
// maxChangeScan entries. Permissions are those of now: a principal that
// lost its read permission on a type gets none of its past events. A
// position whose next entries were trimmed fails with ErrGone, as in
// Changes. The events a hook published (action "event") are seen by whoever
// may see the resource they are about.
//
// A position within the shared page of recent entries (feedring.go) is
// served from it, without a transaction of its own; an older one is read
// from the log.
func (m *Manager) Events(ctx context.Context, since uint64, f EventFilter, limit int) (*EventPage, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, MaxPageSize)
	p := PrincipalFrom(ctx)
	if page, ok, err := m.sharedEvents(ctx, p, since, f, limit); ok || err != nil {
		return page, err
	}
	return m.logEvents(ctx, p, since, f, limit)
}

// logEvents is Events read from the log, in a transaction of the caller's
// own.
func (m *Manager) logEvents(ctx context.Context, p Principal, since uint64, f EventFilter, limit int) (*EventPage, error) {
	types := m.typeSet()
	page := &EventPage{NextSince: since}
	err := m.store.View(ctx, func(tx storage.Tx) error {
		if err := checkTrimmed(tx, since); err != nil {
			return err
		}
		r := reader{tx: tx}
		scanned, size := 0, 0
		var failed error
		err := tx.Scan(bucketChanges, storage.Range{Start: seqKey(since + 1)}, func(_, v []byte) bool {
			if len(page.Items) == limit || scanned == maxChangeScan || size > maxEventBytes {
				return false
			}
			scanned++
			var ch Change
			if failed = json.Unmarshal(v, &ch); failed != nil {
				failed = fmt.Errorf("decode change: %w", failed)
				return false
			}
			var ev *FeedEvent
			ev, failed = m.feedEvent(r, p, types[ch.Type], ch, f)
			if failed != nil {
				return false
			}
			page.NextSince = ch.Seq
			if ev != nil {
				page.Items = append(page.Items, *ev)
				if ev.Resource != nil {
					size += len(ev.Resource.Data)
				}
				if ev.Event != nil {
					size += len(ev.Event.Data)
				}
			}
			return true
		})
		if err != nil {
			return err
		}
		return failed
	})
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", since, err)
	}
	return page, nil
}

// feedEvent decides whether p may see ch, reading what the decision needs
// in r, and builds its event; nil when it may not. ct is the entry's type
// as it is now, nil when it was dropped.
func (m *Manager) feedEvent(r reader, p Principal, ct *compiledType, ch Change, f EventFilter) (*FeedEvent, error) {
	var meta *metaRecord
	v, err := decideEvent(p, ct, ch, f, func() (string, bool, error) {
		var err error
		meta, err = r.meta(ct, ch.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			return "", false, nil
		case err != nil:
			return "", false, fmt.Errorf("read %s/%s: %w", ch.Type, ch.ID, err)
		}
		return meta.CreatedBy, true, nil
	})
	if err != nil || v == eventHidden {
		return nil, err
	}
	ev := &FeedEvent{Change: ch}
	if v == eventBare {
		return ev, nil
	}
	rev, err := r.revision(ct, ch.ID, ch.Revision)
	if errors.Is(err, ErrNotFound) {
		return ev, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s/%s revision %d: %w", ch.Type, ch.ID, ch.Revision, err)
	}
	ev.Resource, err = redact(hiddenFor(p, ct), newResource(ch.Type, ch.ID, meta, rev))
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// eventVerdict is what a principal gets of one change-log entry.
type eventVerdict int

const (
	eventHidden   eventVerdict = iota // nothing
	eventBare                         // the entry alone
	eventResource                     // the entry and the resource as it left it, if that still exists
)

// decideEvent decides what p gets of ch: every rule of who sees which
// event is here, whether the entry was read from the log or taken from the
// shared page. ct is the entry's type as it is now, nil when it was
// dropped; owner returns the creator of the entry's resource, found false
// when the resource no longer exists, and is called only when the decision
// depends on it.
func decideEvent(p Principal, ct *compiledType, ch Change, f EventFilter, owner func() (by string, found bool, err error)) (eventVerdict, error) {
	if len(f.Types) > 0 && !slices.Contains(f.Types, ch.Type) {
		return eventHidden, nil
	}
	if ct == nil {
		// A dropped type: only administrators saw every type.
		if p.IsAdmin() {
			return eventBare, nil
		}
		return eventHidden, nil
	}
	g := ct.def.Grant(p, PermRead) // everything for administrators and System
	if ch.Action == ActionType {
		// A change of the type itself: shown to whoever may see the type.
		if p.IsAdmin() || ct.def.Visible(p) {
			return eventBare, nil
		}
		return eventHidden, nil
	}
	if g.None() {
		return eventHidden, nil
	}
	if !g.All || withResource(ch.Action) {
		by, found, err := owner()
		if err != nil {
			return eventHidden, err
		}
		if !found {
			// Purged since (or a purge): the owner is no longer known.
			// An owner-only reader sees it only if it did it itself.
			if !g.All && (ch.By == "" || ch.By != p.ID) {
				return eventHidden, nil
			}
			return eventBare, nil
		}
		if !g.Allows(p, by) {
			return eventHidden, nil
		}
	}
	if !withResource(ch.Action) {
		return eventBare, nil
	}
	return eventResource, nil
}

// withResource reports whether the event of an action carries the
// resource (SPEC §8).
func withResource(action string) bool {
	switch action {
	case ActionCreate, ActionUpdate, ActionRestore, ActionSwitch:
		return true
	}
	return false
}
