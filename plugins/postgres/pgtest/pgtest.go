// Package pgtest gives tests a database of their own on the PostgreSQL
// server of the machine, so tests that use PostgreSQL run in parallel.
//
// The server is STRATA_TEST_POSTGRES (a postgres URL whose database is the
// one to connect to for creating others), by default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. When the
// server cannot be reached, a test is skipped, except under CI (the
// environment variable CI set), where it fails: CI's script starts the
// server.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultServer is the server tests use when STRATA_TEST_POSTGRES is unset.
const DefaultServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Server returns the URL of the test server's administrative database.
func Server() string {
	if u := os.Getenv("STRATA_TEST_POSTGRES"); u != "" {
		return u
	}
	return DefaultServer
}

// NewSchema creates an empty schema with a random name in the database at
// dbURL (made by NewDatabase) and returns a URL whose connections use it
// (search_path), so a test makes many empty stores for the price of one
// database. The schema goes with its database.
func NewSchema(tb testing.TB, dbURL string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // hang guard
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatalf("pgtest: connect to %s: %v", dbURL, err)
	}
	defer conn.Close(ctx)
	name := randomName("s_")
	if _, err := conn.Exec(ctx, "create schema "+name); err != nil {
		tb.Fatalf("pgtest: create schema %s: %v", name, err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatalf("pgtest: parse %s: %v", dbURL, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// randomName returns prefix and 16 random hex digits.
func randomName(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// NewDatabase creates an empty database with a random name and returns its
// URL; the database is dropped when the test ends. Creating one takes
// about a second (PostgreSQL syncs the copy of its template); use
// NewSchema for many small stores. It skips tb (fails it
// under CI) when the server cannot be reached.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // hang guard
	defer cancel()
	conn, err := pgx.Connect(ctx, Server())
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("pgtest: PostgreSQL at %s is unreachable under CI: %v", Server(), err)
		}
		tb.Skipf("pgtest: PostgreSQL at %s is unreachable (CI would fail): %v", Server(), err)
	}
	defer conn.Close(ctx)
	name := randomName("strata_test_")
	if _, err := conn.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, Server())
		if err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "drop database if exists "+pgx.Identifier{name}.Sanitize()+" with (force)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(Server())
	if err != nil {
		tb.Fatalf("pgtest: parse %s: %v", Server(), err)
	}
	u.Path = "/" + name
	return u.String()
}
