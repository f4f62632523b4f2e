package core

import (
	"context"
	"io"

	"github.com/strata-dev/strata/sdk/storage"
)

// ErrUnsupported is wrapped by the error of Backup on a store whose
// backend cannot copy itself while it runs (its driver does not implement
// driver.Snapshotter); it is storage.ErrUnsupported, errors.ErrUnsupported.
var ErrUnsupported = storage.ErrUnsupported

// Backup takes an online backup (SPEC §9): it calls fn with the size in
// bytes of a consistent copy of the whole store, as it stood when Backup
// began, and a function that writes exactly that copy to w (once). Writes
// go on while fn runs and are not in the copy; every write acknowledged
// before Backup was called is. For the bolt store the copy is a bolt file,
// which a data directory holds as strata.db (the search index is rebuilt
// from it on start). Only administrators (and System) may back up: the
// copy holds everything, API key hashes and webhook secrets included.
//
// fn runs inside a read transaction of the store: it should do nothing but
// write the copy (a slow writer only delays the reuse of freed pages).
func (m *Manager) Backup(ctx context.Context, fn func(size int64, writeTo func(w io.Writer) (int64, error)) error) error {
	if err := requireAdmin(PrincipalFrom(ctx)); err != nil {
		return err
	}
	if m.closed.Load() {
		return ErrClosed
	}
	return storage.Snapshot(ctx, m.store, fn)
}
