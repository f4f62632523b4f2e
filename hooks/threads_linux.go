package hooks

import (
	"fmt"
	"syscall"
)

// threadNiceWorks says whether threads have nice values of their own.
const threadNiceWorks = true

// setThreadNice sets the nice value of the calling thread.
func setThreadNice(nice int) error {
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice); err != nil {
		return fmt.Errorf("set the nice value of a guest thread to %d: %w", nice, err)
	}
	return nil
}
