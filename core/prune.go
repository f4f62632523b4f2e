package core

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/strata-dev/strata/sdk/storage"
)

// Revision retention (SPEC §9). A type's retention.keep_last N (or, for a
// type that sets no retention, Options.KeepLast) bounds the revisions kept
// of each of its resources. The pruner keeps, of each resource:
//
//   - the newest N revisions by number (the last N written), and
//   - the current revision and its ancestors along the parent chain, N
//     revisions in all (current, parent, grandparent, …),
//
// and deletes the others. The second rule is what "every revision a switch
// may return to" means here: after a switch back to an old revision and an
// update over it, the history that update continues (its parent, the
// revisions before it on its branch) stays, up to N deep, so a rollback
// along the current branch and the diff of the current revision against
// its parent keep working; the newest revisions of the branch left behind
// stay too, by the first rule. The current revision is never deleted.
//
// Pruning runs in the background, every pruneInterval: a read transaction
// finds, a page of resources at a time, those holding more revisions than
// they may keep, and a write transaction per page deletes the surplus,
// computed again inside it so that a write or switch landing in between
// is seen. Writes never prune: they stay as fast with retention as
// without, and a burst of updates is trimmed a minute later at most.
//
// A pruned revision is gone for good. Its number is not reused (numbers
// come from revision_count): reading it, switching to it or diffing
// against it is ErrGone (410), where a number past revision_count is
// ErrNotFound (404). The revision list shows the revisions kept, newest
// first, with gaps where revisions were pruned; a kept revision's parent
// may name a pruned one. bbolt reuses the freed pages for later writes,
// so a store under a steady churn stops growing; it does not shrink the
// file.

// pruneInterval is how often the pruner runs; prunePage bounds the
// resources one of its transactions looks at, and pruneBatch the
// revisions one write transaction deletes.
const (
	pruneInterval = time.Minute
	prunePage     = 256
	pruneBatch    = 2000
)

// PruneResult is what a PruneRevisions did.
type PruneResult struct {
	// Resources is how many resources lost revisions; Revisions how many
	// revisions were deleted.
	Resources int
	Revisions int
}

// keepLast is the number of revisions retention keeps of each resource of
// ct; 0 keeps them all.
func (m *Manager) keepLast(ct *compiledType) int {
	if ct.def.Retention != nil {
		return ct.def.Retention.KeepLast
	}
	return m.keepLastDefault
}

// PruneRevisions deletes, in every type with a retention, the revisions
// retention does not keep (see above). The Manager runs it every minute
// when a retention is configured; it is exported for operators and tests.
func (m *Manager) PruneRevisions(ctx context.Context) (PruneResult, error) {
	var res PruneResult
	if m.closed.Load() {
		return res, ErrClosed
	}
	for _, def := range m.Types() {
		ct, err := m.lookupType(def.Name)
		if err != nil {
			continue // dropped meanwhile
		}
		keep := m.keepLast(ct)
		if keep <= 0 {
			continue
		}
		var after []byte
		for {
			ids, next, err := m.pruneCandidates(ctx, def.Name, keep, after)
			if err != nil {
				return res, fmt.Errorf("prune %s: %w", def.Name, err)
			}
			for len(ids) > 0 {
				n, done, err := m.pruneSome(ctx, def.Name, keep, ids)
				if err != nil {
					return res, fmt.Errorf("prune %s: %w", def.Name, err)
				}
				res.Resources += done
				res.Revisions += n
				ids = ids[done:]
			}
			if next == nil {
				break
			}
			after = next
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// pruneCandidates reads, in one read transaction, up to prunePage
// resources of typ after the id after and returns those that hold more
// than keep revisions, and the id to go on after (nil at the end).
func (m *Manager) pruneCandidates(ctx context.Context, typ string, keep int, after []byte) ([]string, []byte, error) {
	var ids []string
	var next []byte
	err := m.store.View(ctx, func(tx storage.Tx) error {
		ids, next = nil, nil
		var last []byte
		more := false
		var start []byte
		if after != nil {
			start = append(bytes.Clone(after), 0)
		}
		seen := 0
		var inner error
		err := tx.Scan(metaBucket(typ), storage.Range{Start: start}, func(k, v []byte) bool {
			if seen == prunePage {
				more = true
				return false
			}
			seen++
			last = k
			meta, err := decodeMeta(v)
			if err != nil {
				inner = fmt.Errorf("decode meta of %s: %w", k, err)
				return false
			}
			if meta.RevisionCount <= keep {
				return true
			}
			stored := 0
			if err := tx.Scan(revBucket(typ), storage.PrefixRange(revPrefix(string(k))), func(_, _ []byte) bool {
				stored++
				return stored <= keep
			}); err != nil {
				inner = err
				return false
			}
			if stored > keep {
				ids = append(ids, string(k))
			}
			return true
		})
		if err == nil && inner == nil && more {
			next = bytes.Clone(last)
		}
		if err != nil {
			return err
		}
		return inner
	})
	return ids, next, err
}

// pruneSome deletes, in one write transaction, the surplus revisions of
// the resources ids, in order, until pruneBatch revisions are deleted. It
// returns how many revisions it deleted and how many of ids it finished.
func (m *Manager) pruneSome(ctx context.Context, typ string, keep int, ids []string) (deleted, done int, err error) {
	err = m.store.Update(ctx, func(tx storage.Tx) error {
		deleted, done = 0, 0
		for _, id := range ids {
			if deleted >= pruneBatch {
				break
			}
			meta, err := getMeta(tx, typ, id)
			if isNotFound(err) {
				done++
				continue
			}
			if err != nil {
				return err
			}
			doomed, err := surplusRevisions(tx, typ, id, meta, keep)
			if err != nil {
				return err
			}
			for _, k := range doomed {
				if err := tx.Delete(revBucket(typ), k); err != nil {
					return err
				}
			}
			deleted += len(doomed)
			done++
		}
		return nil
	})
	return deleted, done, err
}

// surplusRevisions returns the keys of the revisions of typ/id retention
// does not keep: all but the newest keep by number and the current one
// with keep-1 of its ancestors.
func surplusRevisions(tx storage.Tx, typ, id string, meta *metaRecord, keep int) ([][]byte, error) {
	parents := map[int]int{} // number → parent (0: none)
	var numbers []int
	var inner error
	err := tx.Scan(revBucket(typ), storage.PrefixRange(revPrefix(id)), func(k, v []byte) bool {
		info := v
		if i := bytes.IndexByte(v, '\n'); i >= 0 {
			info = v[:i]
		}
		rev, err := decodeRevision(info)
		if err != nil {
			inner = fmt.Errorf("decode %s/%s revision %d: %w", typ, id, revNumber(k), err)
			return false
		}
		n := revNumber(k)
		numbers = append(numbers, n)
		if rev.Parent != nil {
			parents[n] = *rev.Parent
		}
		return true
	})
	if err == nil {
		err = inner
	}
	if err != nil || len(numbers) <= keep {
		return nil, err
	}
	kept := map[int]bool{}
	for _, n := range numbers[len(numbers)-keep:] { // numbers ascend
		kept[n] = true
	}
	for n, i := meta.CurrentRevision, 0; n > 0 && i < keep; n, i = parents[n], i+1 {
		kept[n] = true
	}
	var doomed [][]byte
	for _, n := range numbers {
		if !kept[n] {
			doomed = append(doomed, revKey(id, n))
		}
	}
	return doomed, nil
}

// pruneTick is the periodic pruning (every pruneInterval).
func (m *Manager) pruneTick(ctx context.Context) error {
	res, err := m.PruneRevisions(ctx)
	if res.Revisions > 0 {
		m.log.DebugContext(ctx, "revision retention: pruned", slog.Int("resources", res.Resources), slog.Int("revisions", res.Revisions))
	}
	return err
}
