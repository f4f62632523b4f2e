package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are the schema's versions in order: migrations[i] brings a
// database from version i to i+1. Never edit one that has shipped; append.
var migrations = []string{
	// 1: every bucket in one table, ordered bytewise by key.
	`create table strata_kv (
		bucket bytea not null,
		key    bytea not null,
		value  bytea not null,
		primary key (bucket, key)
	)`,
}

// SchemaVersion is the version of the schema this package creates.
var SchemaVersion = len(migrations)

// migrate brings the database's schema to SchemaVersion in one transaction
// under MigrateLockKey, so nodes starting at once take turns and the later
// ones find the work done. It returns the version found afterwards.
func migrate(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var version int
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "select pg_advisory_xact_lock($1)", MigrateLockKey); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `create table if not exists strata_schema_migrations (
			version    integer primary key,
			applied_at timestamptz not null default now()
		)`); err != nil {
			return fmt.Errorf("create migrations table: %w", err)
		}
		if err := tx.QueryRow(ctx, "select coalesce(max(version), 0) from strata_schema_migrations").Scan(&version); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if version > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this Strata knows (%d): upgrade Strata", version, len(migrations))
		}
		for ; version < len(migrations); version++ {
			if _, err := tx.Exec(ctx, migrations[version]); err != nil {
				return fmt.Errorf("migrate schema to version %d: %w", version+1, err)
			}
			if _, err := tx.Exec(ctx, "insert into strata_schema_migrations (version) values ($1)", version+1); err != nil {
				return fmt.Errorf("record schema version %d: %w", version+1, err)
			}
		}
		return nil
	})
	return version, err
}
