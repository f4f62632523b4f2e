package bolt

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/strata-dev/strata/sdk/storage/driver"
)

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

// noSpace wraps driver.ErrNoSpace around err when it reports a full device
// or quota, and returns err unchanged otherwise. bbolt returns the write's
// *os.PathError as it is, but flattens the errors of growing the file
// ("file resize error: no space left on device") into text, so the text is
// checked too.
func noSpace(err error) error {
	if err == nil || errors.Is(err, driver.ErrNoSpace) {
		return err
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), syscall.ENOSPC.Error()) || strings.Contains(err.Error(), syscall.EDQUOT.Error()) {
		return fmt.Errorf("%w: %w", driver.ErrNoSpace, err)
	}
	return err
}
