// Package testdisk gives tests a real file system that fills up: a small
// tmpfs mounted for the length of one test. Tests of full-disk behaviour
// (storage.ErrNoSpace, 507 insufficient_storage) use it.
package testdisk

import (
	"os"
	"syscall"
	"testing"
)

// Tiny mounts a tmpfs of the given size (mount's syntax, "2m") on a new
// directory and unmounts it when the test ends. Mounting needs root: where
// it is not possible the test is skipped, except under CI (CI set), which
// runs as root and must run it.
func Tiny(t testing.TB, size string) string {
	t.Helper()
	refuse := t.Skipf
	if os.Getenv("CI") != "" {
		refuse = t.Fatalf
	}
	if os.Geteuid() != 0 {
		refuse("a full disk is tested on a small tmpfs, which only root can mount")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		refuse("cannot mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}
