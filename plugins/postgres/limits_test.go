package postgres_test

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/strata-dev/strata/plugins/postgres"
	"github.com/strata-dev/strata/plugins/postgres/pgtest"
	"github.com/strata-dev/strata/sdk/storage"
)

// TestLongKeys stores the longest key PostgreSQL can index, random so it
// does not compress, and refuses a longer one in the Put, so the other
// Updates of its commit group are not failed with it.
func TestLongKeys(t *testing.T) {
	t.Parallel()
	s := openStore(t, pgtest.NewSchema(t, pgtest.NewDatabase(t)))
	const bucket = "b"
	longest := make([]byte, postgres.MaxKeySize-len(bucket))
	_, _ = rand.Read(longest)
	tests := []struct {
		name    string
		key     []byte
		invalid bool
	}{
		{"longest", longest, false},
		{"one byte more", append(longest, 'x'), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Update(t.Context(), func(tx storage.Tx) error {
				return tx.Put(bucket, tt.key, []byte("v"))
			})
			if got := errors.Is(err, storage.ErrInvalid); got != tt.invalid || (err != nil && !tt.invalid) {
				t.Fatalf("Put of a %d-byte key: %v, want ErrInvalid %v", len(tt.key), err, tt.invalid)
			}
			err = s.View(t.Context(), func(tx storage.Tx) error {
				_, err := tx.Get(bucket, tt.key)
				return err
			})
			if tt.invalid != errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Get after the Put: %v", err)
			}
		})
	}
}
