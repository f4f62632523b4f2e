package bolt

import "errors"

// Errors of the bolt backend, besides the storage package's. Check them with
// errors.Is.
var (
	// ErrLocked is wrapped by the error Open returns when another process,
	// or another Store in this process, holds the file.
	ErrLocked = errors.New("bolt: store is locked")

	// errGoexit is returned to an Update whose function called
	// runtime.Goexit (for example through t.FailNow), which would otherwise
	// kill the committer goroutine.
	errGoexit = errors.New("bolt: update function called runtime.Goexit")
)
