package core

import "context"

// authorizeWrite is the pipeline's authorize step: whether the writer may
// apply op to a resource of ct whose state is cur (nil for a create and
// for a single write whose staging reads nothing; not existing when
// cur.exists is false). It runs after decode and before the
// hook chains, outside any transaction.
//
// Today every operation is authorized at the entry of its write, before
// the pipeline starts (Manager.allowOp in access.go, which a batch runs for
// all its operations before any is staged), so this step allows what
// reaches it. Checking ownership here, against the staged state that the
// commit re-checks, would close the window in which a resource is purged
// and re-created under the same id between the check and the write.
func (m *Manager) authorizeWrite(ctx context.Context, ct *compiledType, op Op, cur *current) error {
	return nil
}
