package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

// TestIdleSnapshotsEnd checks that the read transaction a View leaves open
// on its connection (for the next user to end) is rolled back when the
// connection stays idle, so an idle node holds no snapshot.
func TestIdleSnapshotsEnd(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := openStore(t, url)
	err := s.View(t.Context(), func(tx storage.Tx) error {
		_, err := tx.Get("b", []byte("k"))
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	idleInTx := func() int {
		var n int
		err := conn.QueryRow(t.Context(), `select count(*) from pg_stat_activity
			where datname = current_database() and state like 'idle in transaction%'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := idleInTx(); n != 1 {
		t.Logf("%d connections idle in a transaction right after the View (1 expected, unless the timer already ran)", n)
	}
	tick := time.NewTicker(10 * time.Millisecond) // polls the server; the deadline only guards a hang
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for idleInTx() != 0 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("a connection is still idle in a transaction 30 s after the last View")
		}
	}
}
