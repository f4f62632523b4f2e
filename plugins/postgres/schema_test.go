package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/strata-dev/strata/plugins/postgres"
	"github.com/strata-dev/strata/plugins/postgres/pgtest"
)

// TestMigrateConcurrently opens several stores at once on an empty
// database, as nodes starting together would: every open succeeds and
// the schema is migrated once.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	const nodes = 4
	var wg sync.WaitGroup
	for range nodes {
		wg.Go(func() {
			s, err := postgres.OpenURL(t.Context(), url, postgres.Options{})
			if err != nil {
				t.Errorf("open: %v", err)
				return
			}
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	wg.Wait()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var rows, max int
	if err := conn.QueryRow(t.Context(), "select count(*), max(version) from strata_schema_migrations").Scan(&rows, &max); err != nil {
		t.Fatal(err)
	}
	if rows != postgres.SchemaVersion || max != postgres.SchemaVersion {
		t.Errorf("migrations table has %d rows up to version %d, want %d", rows, max, postgres.SchemaVersion)
	}

	// A schema newer than this binary knows is refused.
	if _, err := conn.Exec(t.Context(), "insert into strata_schema_migrations (version) values ($1)", postgres.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if s, err := postgres.OpenURL(t.Context(), url, postgres.Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		if s != nil {
			_ = s.Close()
		}
		t.Errorf("open of a newer schema: %v, want an error saying it is newer", err)
	}
}

// TestCreatesDatabase opens a database that does not exist yet.
func TestCreatesDatabase(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	missing := strings.Replace(url, "/strata_test_", "/strata_test_new_", 1)
	t.Cleanup(func() {
		ctx := context.Background() // t.Context is done in cleanups
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			name := missing[strings.LastIndex(missing, "/")+1:]
			if i := strings.IndexByte(name, '?'); i >= 0 {
				name = name[:i]
			}
			if _, err := conn.Exec(ctx, "drop database if exists "+pgx.Identifier{name}.Sanitize()+" with (force)"); err != nil {
				t.Errorf("drop %s: %v", name, err)
			}
			_ = conn.Close(ctx)
		}
	})
	s, err := postgres.OpenURL(t.Context(), missing, postgres.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", missing, err)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}
