//go:build !linux

package hooks

import "errors"

// threadNiceWorks says whether threads have nice values of their own.
const threadNiceWorks = false

// setThreadNice is not done where threads have no nice value of their own.
func setThreadNice(int) error {
	return errors.New("guest threads run at normal priority: per-thread nice values are Linux only")
}
