package storage

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/strata-dev/strata/sdk/storage/driver"
)

// ErrUnsupported is wrapped by the error of Snapshot on a Store whose
// backend cannot copy itself online. It is errors.ErrUnsupported.
var ErrUnsupported = errors.ErrUnsupported

// Snapshot runs fn with a consistent copy of s at one instant, for an
// online backup: size is the copy's length in bytes, and writeTo writes
// exactly those bytes to w, at most once. Updates go on while fn runs and
// are not in the copy. The copy is in the backend's own format (for bolt,
// a bolt file that opens as a store). fn's error is returned unchanged;
// a backend without online copies (its driver does not implement
// driver.Snapshotter) returns an error wrapping ErrUnsupported. Close
// waits for a Snapshot in progress, as for a View.
func Snapshot(ctx context.Context, s Store, fn func(size int64, writeTo func(w io.Writer) (int64, error)) error) error {
	ps, ok := s.(*store)
	if !ok {
		return fmt.Errorf("storage: snapshot: %w", ErrUnsupported)
	}
	sn, ok := ps.d.(driver.Snapshotter)
	if !ok {
		return fmt.Errorf("storage: snapshot: %w: the backend cannot copy itself online", ErrUnsupported)
	}
	if fn == nil {
		return fmt.Errorf("storage: snapshot: %w: nil function", ErrInvalid)
	}
	if err := ps.begin(ctx); err != nil {
		return err
	}
	defer ps.inflight.Done()
	err := sn.Snapshot(ctx, func(size int64, writeTo func(w io.Writer) (int64, error)) error {
		used := false
		once := func(w io.Writer) (int64, error) {
			if used {
				return 0, fmt.Errorf("storage: snapshot: %w: the copy is written once", ErrInvalid)
			}
			used = true
			return writeTo(w)
		}
		if err := fn(size, once); err != nil {
			return &fnError{err}
		}
		return nil
	})
	if err == nil {
		return nil
	}
	if fe, ok := errors.AsType[*fnError](err); ok {
		return fe.err
	}
	return fmt.Errorf("storage: snapshot: %w", err)
}

// Shared reports whether other processes may write s at the same time as
// this one (its driver implements driver.Shared), and returns the
// channel that hints at their commits (nil when there is none; see
// driver.Shared). A process over a shared store follows the change log to
// see the others' writes; over an unshared one its own writes are the
// only ones.
func Shared(s Store) (commits <-chan struct{}, shared bool) {
	ps, ok := s.(*store)
	if !ok {
		return nil, false
	}
	sh, ok := ps.d.(driver.Shared)
	if !ok {
		return nil, false
	}
	return sh.Commits(), true
}
