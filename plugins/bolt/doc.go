// Package bolt is Strata's default storage backend: a single file managed by
// go.etcd.io/bbolt, a copy-on-write B+tree with fully serializable
// transactions.
//
// # Layout
//
// Every Strata bucket is a top-level bolt bucket, created by the first Put
// into it. Keys and values are stored as given; bolt orders keys bytewise.
//
// # Transactions and group commit
//
// A View is a plain bolt read transaction: any number run at once, each
// over the snapshot that was current when it began.
//
// An Update does not open a bolt write transaction itself. It hands fn
// to the store's committer, a single goroutine started by [Open] and stopped
// by Close. When the committer is idle and a request arrives, it
// begins one bolt write transaction at once, takes every other request
// already queued (up to [Options.MaxBatchSize]), runs their functions one
// after another inside that transaction, and commits once: one fsync for the
// whole group. Each caller is answered only after that commit, so an Update
// that returns nil is on disk. There is no timer: a lone Update pays one
// commit, and Updates that arrive while a commit is syncing form the next
// group. This differs from bbolt's DB.Batch, which waits up to 10ms for a
// batch to fill and so caps a single caller at about 100 commits a second.
//
// If a member's function returns an error or panics, the whole bolt
// transaction is rolled back, that member is answered with its error (a
// panic is re-raised in the member's own goroutine), and the group is run
// again without it. Functions may therefore run more than once, as the
// storage contract allows. If the commit fails, every member gets the error.
// An Update whose context is done before its function first runs is answered
// with ctx.Err() and skipped.
//
// # Limits
//
// One process at a time may open a file; another Open of the same file, in
// this process or another, waits [Options.Timeout] for the lock and then
// fails with an error wrapping [ErrLocked]. Functions run on the committer
// goroutine, so they must not call Update or Close on the same Store (that
// deadlocks), and a slow function delays every Update queued behind it.
// Bolt has to remap the file when it grows past its current mapping, and a
// remap waits for every open read transaction, so a long View can stall
// every Update. The default [Options.InitialMmapSize] of 1 GiB keeps that
// from happening below that file size.
package bolt
