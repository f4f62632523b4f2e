// Package core is Strata's resource model: types declared by JSON Schema,
// resources whose every change is an immutable revision, and the change log
// that records what happened, in order, with a gap-free sequence number.
//
// # Manager
//
// A [Manager] is the one entry point. It is built over a storage.Store from
// package sdk/storage and owns the layout of data in it. Every write —
// resource data, meta, revisions, unique keys, references and the change-log
// entry — is made in one storage transaction, so a crash never leaves a
// half-written resource and a change-log entry exists exactly for each
// committed change.
//
// # Search
//
// Filters, full-text queries and sorts are answered by a [Searcher] that
// Options.Search builds inside Open, over the Manager's [ChangeFeed]
// (package index is one). The Manager asks it for ids only and reads the
// resources itself, once. Lists, searches and reads embed the resources
// their reference fields point at on request ([ListOptions].Expand): the
// targets of a whole page are read in one transaction per field, each
// only if the reader could read it directly.
//
// # Concurrency
//
// A Manager is safe for concurrent use. Single-resource writes do their
// CPU-heavy work (decoding, schema validation, hashing) before the storage
// transaction and only check and write inside it, so many writers can share
// one group commit. Conditional writes (If-Match) are decided inside the
// transaction: exactly one of several writers holding the same revision wins.
//
// # Errors
//
// Methods return errors that wrap one of the sentinels in errors.go
// (ErrNotFound, ErrConflict, ErrValidation, ...). Use errors.Is to classify
// them and errors.As with *Error to read field-level details.
package core
