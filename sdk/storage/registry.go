package storage

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
)

// Opener opens a Store at location, the part of a storage URL after the
// scheme and colon ("./data/strata.db" in "bolt:./data/strata.db", "" in
// "memory:"). The caller closes the returned Store.
type Opener func(ctx context.Context, location string, opts OpenOptions) (Store, error)

// OpenOptions are the settings every backend receives. The zero value is
// ready to use.
type OpenOptions struct {
	// Logger receives the backend's diagnostics. Nil discards them.
	Logger *slog.Logger
}

// Registry maps URL schemes ("bolt", "memory", "postgres") to backends, so a
// deployment chooses its storage with one string. The zero value is an empty
// registry ready to use; it is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	openers map[string]Opener
}

// Register makes a backend available under scheme, replacing any backend
// registered under the same scheme.
func (r *Registry) Register(scheme string, open Opener) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.openers == nil {
		r.openers = make(map[string]Opener)
	}
	r.openers[scheme] = open
}

// Schemes returns the registered schemes in sorted order.
func (r *Registry) Schemes() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.openers))
	for s := range r.openers {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Open opens the Store named by url, "scheme:location". The error wraps
// ErrInvalid when the URL has no scheme or the scheme is not registered.
func (r *Registry) Open(ctx context.Context, url string, opts OpenOptions) (Store, error) {
	scheme, location, ok := strings.Cut(url, ":")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("%w: storage URL %q has no scheme (want scheme:location, e.g. bolt:./strata_data/strata.db)", ErrInvalid, url)
	}
	r.mu.RLock()
	open := r.openers[scheme]
	r.mu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("%w: no storage backend for scheme %q (have %s)", ErrInvalid, scheme, strings.Join(r.Schemes(), ", "))
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	store, err := open(ctx, location, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s storage %q: %w", scheme, location, err)
	}
	return store, nil
}
