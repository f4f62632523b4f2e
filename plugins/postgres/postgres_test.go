package postgres_test

import (
	"context"
	"testing"

	"github.com/strata-dev/strata/plugins/postgres"
	"github.com/strata-dev/strata/plugins/postgres/pgtest"
	"github.com/strata-dev/strata/sdk/storage"
	"github.com/strata-dev/strata/sdk/storagetest"
)

// harness makes a store in a schema of its own, in a database of the test
// (a database per store costs a second each); reopening opens the same
// schema again.
type harness struct {
	url  string
	opts postgres.Options
}

// newHarness returns a harness maker for stores opened with opts in
// schemas of the database at dbURL, or in a database of their own when
// dbURL is empty.
func newHarness(dbURL string, opts postgres.Options) storagetest.BenchHarnessMaker {
	return func(_ context.Context, tb testing.TB) (storagetest.Harness, error) {
		if dbURL == "" {
			return &harness{url: pgtest.NewDatabase(tb), opts: opts}, nil
		}
		return &harness{url: pgtest.NewSchema(tb, dbURL), opts: opts}, nil
	}
}

func (h *harness) MakeStore(ctx context.Context) (storage.Store, error) {
	return postgres.OpenURL(ctx, h.url, h.opts)
}

func (h *harness) Reopen(ctx context.Context, s storage.Store) (storage.Store, error) {
	if err := s.Close(); err != nil {
		return nil, err
	}
	return h.MakeStore(ctx)
}

func (h *harness) Close() {}

func TestConformance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts postgres.Options
	}{
		{"default", postgres.Options{}},
		{"noGroupCommit", postgres.Options{MaxBatchSize: 1}},
		{"smallGroups", postgres.Options{MaxBatchSize: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.NewDatabase(t)
			storagetest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (storagetest.Harness, error) {
				return newHarness(db, tt.opts)(ctx, t)
			})
		})
	}
}

func BenchmarkStore(b *testing.B) {
	storagetest.RunBenchmarks(b, newHarness("", postgres.Options{}))
}
