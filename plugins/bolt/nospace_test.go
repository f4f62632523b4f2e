package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/strata-dev/strata/internal/testdisk"
	"github.com/strata-dev/strata/sdk/storage"
)

// TestDiskFull fills a real (tmpfs) disk: the Update that does not fit
// fails with an error wrapping storage.ErrNoSpace, writes nothing, the
// store keeps working, and once space is freed writes succeed again.
func TestDiskFull(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"default", Options{}},
		{"noGroupCommit", Options{MaxBatchSize: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := testdisk.Tiny(t, "2m")
			// The filler is deleted later to free space.
			filler := filepath.Join(dir, "filler")
			if err := os.WriteFile(filler, make([]byte, 512<<10), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := OpenWithOptions(ctx, filepath.Join(dir, "strata.db"), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			value := bytes.Repeat([]byte("x"), 32<<10)
			put := func(i int) error {
				return s.Update(ctx, func(tx storage.Tx) error {
					return tx.Put("b", fmt.Appendf(nil, "k%04d", i), value)
				})
			}
			full := -1
			for i := range 1000 {
				if err := put(i); err != nil {
					if !errors.Is(err, storage.ErrNoSpace) {
						t.Fatalf("put %d: %v, want an error wrapping storage.ErrNoSpace", i, err)
					}
					if !errors.Is(err, syscall.ENOSPC) {
						t.Errorf("put %d: %v: the system's error is lost", i, err)
					}
					full = i
					break
				}
			}
			if full <= 0 {
				t.Fatalf("the disk never filled (full at %d)", full)
			}
			err = s.View(ctx, func(tx storage.Tx) error {
				if _, err := tx.Get("b", fmt.Appendf(nil, "k%04d", full-1)); err != nil {
					return fmt.Errorf("the last write that fit: %w", err)
				}
				if _, err := tx.Get("b", fmt.Appendf(nil, "k%04d", full)); !errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("the write that did not fit: got %v, want not found", err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			if err := put(full); err != nil {
				t.Fatalf("put after freeing space: %v", err)
			}
		})
	}
}
