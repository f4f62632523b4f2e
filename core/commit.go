package core

import "context"

// commit is the pipeline's commit step: one write transaction that checks
// the plan is not stale and applies its operations in order. The checks:
// no type change is in progress, every operation's type is still the
// definition it was staged with, and every resource whose data the staging
// used is still at the revision it read. A stale plan fails with errStale
// and is staged again; nothing else runs in the transaction but the
// storage work itself.
func (m *Manager) commit(ctx context.Context, p *plan, by Principal) ([]*Resource, error) {
	results := make([]*Resource, len(p.steps))
	_, err := m.update(ctx, by, func(w *writer) error {
		if !m.typesSettled() {
			return errTypeChanging
		}
		if err := w.typesCurrent(); err != nil {
			return err
		}
		for _, s := range p.steps {
			if cur, err := m.lookupType(s.op.Type); err != nil || cur != s.ct {
				return errStale
			}
		}
		for _, e := range p.expects {
			meta, err := w.loadMeta(e.ct, e.id)
			if err != nil || meta.CurrentRevision != e.rev || meta.Deleted != e.deleted {
				return errStale
			}
		}
		for i, s := range p.steps {
			var err error
			if results[i], err = w.apply(s); err == nil && len(s.events) > 0 {
				err = w.appendEvents(s, results[i])
			}
			if err != nil {
				if p.batch {
					return &BatchError{Index: i, Err: err}
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// apply performs one staged operation inside the write transaction.
func (w *writer) apply(s step) (*Resource, error) {
	ct, op := s.ct, s.op
	if err := w.authorize(ct, op); err != nil {
		return nil, err
	}
	switch op.Kind {
	case OpCreate:
		return w.create(ct, s.id, s.doc, s.hooks)
	case OpReplace, OpPatch:
		return w.replace(ct, s.id, s.doc, op.IfMatch, s.hooks)
	case OpDelete:
		return nil, w.softDelete(ct, s.id, op.IfMatch)
	case OpPurge:
		return nil, w.purge(ct, s.id, op.IfMatch)
	case OpRestore:
		return w.restore(ct, s.id, op.IfMatch)
	case OpSwitch:
		return w.switchTo(ct, s.id, op.Revision, op.IfMatch)
	}
	return nil, errorf(ErrInvalid, "unknown operation %d", op.Kind)
}

// appendEvents appends the events s publishes, after the entries its
// operation appended, each naming the resource at the revision the
// operation left it (0 once purged). r is what the operation returned.
func (w *writer) appendEvents(s step, r *Resource) error {
	rev := 0
	switch {
	case r != nil:
		rev = r.Meta.CurrentRevision
	case s.op.Kind != OpPurge:
		meta, err := w.loadMeta(s.ct, s.id)
		if err != nil {
			return err
		}
		rev = meta.CurrentRevision
	}
	for i := range s.events {
		ev := s.events[i]
		ch := Change{Type: s.ct.def.Name, ID: s.id, Action: ActionEvent, Revision: rev, Event: &ev}
		if err := w.appendEntry(&ch); err != nil {
			return err
		}
	}
	return nil
}

// authorize decides, against the stored state in the write transaction,
// whether the writer may apply op: the authorize step again, now atomic
// with the write (see authorizeWrite). The resource is read only when the
// grant depends on who created it.
func (w *writer) authorize(ct *compiledType, op Op) error {
	action := opPermission(op.Kind)
	if op.Kind == OpCreate || ct.def.Grant(w.by, action).All {
		return nil
	}
	createdBy, found := "", false
	meta, err := w.loadMeta(ct, op.ID)
	switch {
	case err == nil:
		createdBy, found = meta.CreatedBy, true
	case !isNotFound(err):
		return err
	}
	return allowWrite(w.by, ct, action, op.ID, found, createdBy)
}
