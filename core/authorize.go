package core

// authorizeWrite is the pipeline's authorize step: whether the writer may
// apply op to a resource of ct whose state is cur, read for the staging
// (nil when the staging reads nothing: a create, or a single write that
// neither patches nor runs hooks). It runs right after the read and before
// decode and the hook chains, so that neither a patch (whose "test"
// operation would be an oracle) nor a hook ever sees data the writer may
// not write. What it allows is decided again in the commit's transaction
// (writer.authorize), against the state the write is applied to.
//
// Whether the type is visible and the principal authenticated was checked
// at the entry of the write (Manager.allowOp in access.go).
func authorizeWrite(by Principal, ct *compiledType, op Op, cur *current) error {
	if cur == nil || op.Kind == OpCreate {
		return nil
	}
	return allowWrite(by, ct, opPermission(op.Kind), op.ID, cur.exists, cur.meta.CreatedBy)
}
