// Package postgres is a Strata storage backend on PostgreSQL, written with
// github.com/jackc/pgx/v5 against package storage/driver alone. It is the
// backend for deployments that outgrow one machine: several Strata nodes can
// open the same database.
//
// # Schema
//
// Every bucket lives in one table, strata_kv(bucket bytea, key bytea,
// value bytea, primary key (bucket, key)). PostgreSQL orders bytea bytewise
// (memcmp, then the shorter first), which is the order the storage contract
// asks of scans, so a Scan is an index range scan of the primary key.
// Strata creates and migrates the schema itself when a store opens: the
// versions applied are listed in strata_schema_migrations, and migrating
// runs under a transaction-level advisory lock, so nodes starting at once
// migrate one after the other and the later ones find nothing to do. A
// database whose schema is newer than this binary knows is refused.
//
// # Transactions
//
// A View is a REPEATABLE READ READ ONLY transaction: all its reads see one
// snapshot. It begins lazily, pipelined with its first query, and its
// ROLLBACK is left to the next user of the connection, who pipelines it
// with its own first statement: a View of one Get costs one round trip. A
// connection idle with a snapshot open is rolled back after 50 ms.
//
// Updates serialize like bbolt's, across every process sharing the
// database: each physical write transaction starts by taking the
// transaction-level advisory lock [WriteLockKey]
// (pg_advisory_xact_lock), which PostgreSQL holds until the commit is
// durable and visible. Writers therefore run one at a time in commit
// order, and a write transaction runs at READ COMMITTED, so every statement
// it sends after taking the lock sees every commit before it. Strata's core
// allocates change-log seqs inside the Update (it reads the last seq, adds
// one and writes it back), so seqs come out gap-free in commit order on any
// number of nodes: a reader that has seen seq n never finds a lower seq
// committed later.
//
// # Group commit
//
// One goroutine per store, the committer, runs the Updates waiting for it
// (at most [Options.MaxBatchSize]) one after another in one PostgreSQL
// transaction and commits them together, so concurrent Updates share the
// round trips of BEGIN and COMMIT and one WAL flush. An Update's writes are
// kept in memory, layered over the group's, until the group commits: reads
// see them, a member whose fn fails or panics is dropped without touching
// the others, and the group's net writes go to the server in three
// statements (delete buckets, delete keys, upsert) pipelined with the
// COMMIT. An Update's fn runs exactly once, unless the transaction fails
// under it (a lost connection): then every member of the group gets that
// error and nothing of the group is written.
//
// # What a node keeps in memory
//
// Nothing of the data: the pending writes of the group being committed and
// the values its members read (shared by the group: under the write lock
// the database does not change until the group commits), and a connection
// pool. Everything a store returns comes from the database.
//
// # Registering
//
// [Open] has the signature of [storage.Opener]; the location is the rest of
// a postgres URL after the scheme's colon:
//
//	var reg storage.Registry
//	reg.Register("postgres", postgres.Open)
//	reg.Register("postgresql", postgres.Open)
//	store, err := reg.Open(ctx, "postgres://postgres@127.0.0.1/strata", storage.OpenOptions{})
//
// The URL is pgx's (libpq's) connection string; pool_max_conns and the
// other pgxpool parameters apply. A database that does not exist is
// created.
package postgres
