// Package blobstore keeps the bytes of Strata's blobs in the storage store
// itself, in chunks, so that every node sharing one database (PostgreSQL,
// SPEC §10) reads a blob uploaded on any of them. It implements
// core.BlobFiles through sdk/storage alone, in the keyspace core lends it
// (core.BlobBytesKeyspace), so it works over any backend; package blobfs,
// files under one node's data directory, stays the default of a store that
// only one process opens.
//
// # Layout
//
//	"p" hash           → pending marker JSON (token, size, chunk size, last write)
//	"f" hash           → file record JSON (size, chunk size, committed)
//	"c" hash idx (4 B) → bytes idx·chunk … of the blob
//
// # Commit
//
// An upload is staged as blobfs stages it: copied to a temporary file
// while hashed, so memory stays bounded whatever its size. Commit then
// writes a pending marker, the chunks in Updates of one chunk each (a few
// in flight, which a backend with group commit shares), and the file
// record last, in the Update that drops the marker: a node killed in the
// middle leaves chunks no reader sees (Open needs the record), and the
// collector's Sweep removes them once their marker has not moved for
// StaleAfter. Two nodes committing the same bytes at once share the
// marker and write the same chunks; the first to finish writes the
// record, the other finds it. Chunks are deleted (by Remove or Sweep)
// only while no marker nor record names the hash, each deleting Update
// checking it, and a commit completes only if its marker was never
// dropped meanwhile, so a commit never completes over chunks removed under
// it.
//
// # Reading
//
// A reader fetches one chunk per View and keeps only the current one:
// reading a blob from start to end holds one chunk, and Seek and ReadAt
// (Range requests) read only the chunks they cover.
package blobstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/strata-dev/strata/blobfs"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/sdk/storage"
)

// DefaultChunkSize is Options.ChunkSize when zero: 1 MiB, few enough
// Updates for a 100 MiB blob (100) and small enough that one Update of a
// PostgreSQL group commit stays a small part of it.
const DefaultChunkSize = 1 << 20

// DefaultInFlight is Options.InFlight when zero.
const DefaultInFlight = 4

// DefaultStaleAfter is Options.StaleAfter when zero.
const DefaultStaleAfter = 10 * time.Minute

// DefaultRemoveGuard is Options.RemoveGuard when zero.
const DefaultRemoveGuard = 10 * time.Minute

// Options tune a Store; zero values are the defaults.
type Options struct {
	// TempDir is where uploads are staged; empty is os.TempDir().
	TempDir string
	// ChunkSize is the length of a chunk, the bytes of one key and of one
	// Update (default DefaultChunkSize). Blobs keep the chunk size they
	// were committed with, so changing it is safe.
	ChunkSize int
	// InFlight bounds the chunk Updates a commit has waiting at once,
	// and with ChunkSize the memory a commit holds (default
	// DefaultInFlight).
	InFlight int
	// StaleAfter is how long the pending marker of a commit may go
	// without a chunk written before Sweep takes it for the leftover of a
	// dead node and removes its chunks (default DefaultStaleAfter).
	StaleAfter time.Duration
	// RemoveGuard: Remove keeps bytes committed (or found already stored
	// by a new upload) less than RemoveGuard ago. The collector of one
	// node may remove a blob just as another node's upload of the same
	// bytes found them stored; the guard keeps them for that upload,
	// whose record the collector will weigh again later (default
	// DefaultRemoveGuard; negative: no guard).
	RemoveGuard time.Duration
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

// Store keeps blob bytes in a keyspace of the store. It is safe for
// concurrent use, by any number of processes sharing the store.
type Store struct {
	space    core.Keyspace
	tmp      string
	chunk    int
	inflight int
	stale    time.Duration
	guard    time.Duration
	now      func() time.Time
}

// New returns a Store over space (core.BlobBytesKeyspace of the store).
// When opts.TempDir is given it is created if missing, and the temporary
// files an interrupted upload left in it are removed: it must be this
// process's own.
func New(space core.Keyspace, opts Options) (*Store, error) {
	s := &Store{space: space, tmp: opts.TempDir, chunk: opts.ChunkSize, inflight: opts.InFlight,
		stale: opts.StaleAfter, guard: opts.RemoveGuard, now: opts.Now}
	if s.chunk <= 0 {
		s.chunk = DefaultChunkSize
	}
	if s.inflight <= 0 {
		s.inflight = DefaultInFlight
	}
	if s.stale <= 0 {
		s.stale = DefaultStaleAfter
	}
	if s.guard == 0 {
		s.guard = DefaultRemoveGuard
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.tmp == "" {
		s.tmp = os.TempDir()
		return s, nil
	}
	if err := os.MkdirAll(s.tmp, 0o750); err != nil {
		return nil, fmt.Errorf("blobstore: create %s: %w", s.tmp, err)
	}
	left, err := os.ReadDir(s.tmp)
	if err != nil {
		return nil, fmt.Errorf("blobstore: read %s: %w", s.tmp, err)
	}
	for _, e := range left {
		if strings.HasPrefix(e.Name(), "upload-") {
			_ = os.Remove(s.tmp + string(os.PathSeparator) + e.Name())
		}
	}
	return s, nil
}

// pending is the marker of commits in progress of one hash.
type pending struct {
	// Token names the marker: a commit completes only if the marker it
	// joined is still there, never dropped and made again.
	Token     string `json:"token"`
	Size      int64  `json:"size"`
	ChunkSize int    `json:"chunk_size"`
	// WrittenMS is the time of its last chunk written; Sweep removes a
	// marker that has not moved for StaleAfter.
	WrittenMS int64 `json:"written_ms"`
}

// record is a complete blob.
type record struct {
	Size      int64 `json:"size"`
	ChunkSize int   `json:"chunk_size"`
	// CommittedMS is the last commit of these bytes, including commits
	// that found them stored (see Options.RemoveGuard).
	CommittedMS int64 `json:"committed_ms"`
}

func (r record) chunks() int64 { return chunkCount(r.Size, r.ChunkSize) }

func chunkCount(size int64, chunk int) int64 {
	return (size + int64(chunk) - 1) / int64(chunk)
}

func pendingKey(hash string) []byte { return []byte("p" + hash) }
func recordKey(hash string) []byte  { return []byte("f" + hash) }

func chunkKey(hash string, idx int64) []byte {
	k := make([]byte, 0, 1+len(hash)+4)
	k = append(k, 'c')
	k = append(k, hash...)
	return binary.BigEndian.AppendUint32(k, uint32(idx))
}

func getJSON(tx core.KeyspaceTx, key []byte, v any) (bool, error) {
	raw, err := tx.Get(key)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decode %q: %w", key, err)
	}
	return true, nil
}

func putJSON(tx core.KeyspaceTx, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(key, raw)
}

// Stage copies r into a temporary file while hashing it.
func (s *Store) Stage(ctx context.Context, r io.Reader, limit int64) (core.StagedBlob, error) {
	t, err := blobfs.StageTemp(ctx, s.tmp, r, limit)
	if err != nil {
		return nil, err
	}
	return &staged{s: s, t: t}, nil
}

type staged struct {
	s *Store
	t *blobfs.Temp
}

func (b *staged) Hash() string { return b.t.Hash }
func (b *staged) Size() int64  { return b.t.Size }
func (b *staged) Head() []byte { return b.t.Head }
func (b *staged) Discard()     { b.t.Remove() }

// errInterrupted: the marker a commit joined was dropped under it (Sweep
// took it for stale, or a Remove ran), so its chunks may be gone.
var errInterrupted = errors.New("the commit was interrupted: its pending marker was removed")

// errStored stops the chunks of a commit when another commit of the same
// bytes completed meanwhile.
var errStored = errors.New("the bytes are stored")

// Commit writes the chunks, then the record; see the package
// documentation.
func (b *staged) Commit() error {
	defer b.t.Remove()
	ctx := context.Background() // the interface gives none: a commit runs to its end
	token, chunk, stored, err := b.s.begin(ctx, b.t.Hash, b.t.Size)
	if err != nil || stored {
		return err
	}
	if err := b.s.writeChunks(ctx, b.t.File, b.t.Hash, token, b.t.Size, chunk); err != nil {
		return err
	}
	return b.s.complete(ctx, b.t.Hash, token, b.t.Size, chunk)
}

// begin joins the pending marker of hash, or makes it, and returns its
// token and chunk size; stored reports bytes stored already (their
// record's commit time moves: see Options.RemoveGuard).
func (s *Store) begin(ctx context.Context, hash string, size int64) (token string, chunk int, stored bool, err error) {
	err = s.space.Update(ctx, func(tx core.KeyspaceTx) error {
		token, chunk, stored = "", s.chunk, false
		now := s.now().UnixMilli()
		var rec record
		found, err := getJSON(tx, recordKey(hash), &rec)
		if err != nil {
			return err
		}
		if found {
			stored = true
			rec.CommittedMS = now
			return putJSON(tx, recordKey(hash), rec)
		}
		var p pending
		found, err = getJSON(tx, pendingKey(hash), &p)
		if err != nil {
			return err
		}
		if !found {
			p = pending{Token: newToken(), Size: size, ChunkSize: s.chunk}
		}
		p.WrittenMS = now
		token, chunk = p.Token, p.ChunkSize
		return putJSON(tx, pendingKey(hash), p)
	})
	if err != nil {
		return "", 0, false, fmt.Errorf("blobstore: begin commit of %s: %w", hash, err)
	}
	return token, chunk, stored, nil
}

// complete writes the record of hash and drops its marker, if the marker
// is still the one the commit joined (so every chunk it wrote is there),
// or if another commit of the same bytes completed first.
func (s *Store) complete(ctx context.Context, hash, token string, size int64, chunk int) error {
	err := s.space.Update(ctx, func(tx core.KeyspaceTx) error {
		var old record
		found, err := getJSON(tx, recordKey(hash), &old)
		if err != nil {
			return err
		}
		if !found {
			var p pending
			ok, err := getJSON(tx, pendingKey(hash), &p)
			if err != nil {
				return err
			}
			if !ok || p.Token != token {
				return errInterrupted
			}
			if err := tx.Delete(pendingKey(hash)); err != nil {
				return err
			}
		} else {
			// Another node finished the same bytes first (and dropped the
			// marker): its record is as good; this commit moves its time.
			size, chunk = old.Size, old.ChunkSize
		}
		return putJSON(tx, recordKey(hash), record{Size: size, ChunkSize: chunk, CommittedMS: s.now().UnixMilli()})
	})
	if err != nil {
		return fmt.Errorf("blobstore: complete commit of %s: %w", hash, err)
	}
	return nil
}

// writeChunks writes the chunks of f, InFlight Updates at most waiting at
// once; each Update checks that the marker token is still there and moves
// its time. It stops early, without error, when another commit of the
// same bytes completed, and with errInterrupted when the marker was
// dropped.
func (s *Store) writeChunks(ctx context.Context, f *os.File, hash, token string, size int64, chunk int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	slots := make(chan []byte, s.inflight)
	for range s.inflight {
		slots <- make([]byte, chunk)
	}
	n := chunkCount(size, chunk)
	for idx := int64(0); idx < n && ctx.Err() == nil; idx++ {
		var buf []byte
		select {
		case buf = <-slots:
		case <-ctx.Done():
		}
		if buf == nil {
			break
		}
		off := idx * int64(chunk)
		part := buf[:min(int64(chunk), size-off)]
		if _, err := f.ReadAt(part, off); err != nil {
			cancel(fmt.Errorf("read temporary file: %w", err))
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { slots <- buf }()
			err := s.space.Update(ctx, func(tx core.KeyspaceTx) error {
				var p pending
				ok, err := getJSON(tx, pendingKey(hash), &p)
				if err != nil {
					return err
				}
				if !ok || p.Token != token {
					if _, err := tx.Get(recordKey(hash)); err == nil {
						return errStored
					}
					return errInterrupted
				}
				if err := tx.Put(chunkKey(hash, idx), part); err != nil {
					return err
				}
				p.WrittenMS = s.now().UnixMilli()
				return putJSON(tx, pendingKey(hash), p)
			})
			if err != nil {
				cancel(fmt.Errorf("write chunk %d: %w", idx, err))
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, errStored) {
		return fmt.Errorf("blobstore: commit %s: %w", hash, err)
	}
	return nil
}

func newToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}

// Open opens the bytes of hash: only a complete blob is found.
func (s *Store) Open(hash string) (core.BlobReader, error) {
	if !core.ValidBlobHash(hash) {
		return nil, fmt.Errorf("blobstore: %q: %w", hash, core.ErrNotFound)
	}
	var (
		rec   record
		found bool
	)
	err := s.space.View(context.Background(), func(tx core.KeyspaceTx) error {
		var err error
		found, err = getJSON(tx, recordKey(hash), &rec)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("blobstore: open %s: %w", hash, err)
	}
	if !found {
		return nil, fmt.Errorf("blobstore: %s: %w", hash, core.ErrNotFound)
	}
	if rec.ChunkSize <= 0 {
		return nil, fmt.Errorf("blobstore: %s: corrupt record (chunk size %d)", hash, rec.ChunkSize)
	}
	return &reader{s: s, hash: hash, size: rec.Size, chunk: int64(rec.ChunkSize), curIdx: -1}, nil
}

// reader reads one blob, a chunk per View.
type reader struct {
	s     *Store
	hash  string
	size  int64
	chunk int64

	off    int64
	cur    []byte // the chunk curIdx, for Read
	curIdx int64
	closed bool
}

// load reads chunk idx. A missing chunk of a blob whose record was read
// means the blob was removed since.
func (r *reader) load(idx int64, into []byte) ([]byte, error) {
	want := min(r.chunk, r.size-idx*r.chunk)
	err := r.s.space.View(context.Background(), func(tx core.KeyspaceTx) error {
		v, err := tx.Get(chunkKey(r.hash, idx))
		if err != nil {
			return err
		}
		if int64(len(v)) != want {
			return fmt.Errorf("chunk %d has %d bytes, not %d", idx, len(v), want)
		}
		into = append(into[:0], v...)
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("blobstore: %s: chunk %d is gone (the blob was removed while read): %w", r.hash, idx, core.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blobstore: read %s: %w", r.hash, err)
	}
	return into, nil
}

func (r *reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	if r.off >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	idx := r.off / r.chunk
	if idx != r.curIdx {
		c, err := r.load(idx, r.cur)
		if err != nil {
			return 0, err
		}
		r.cur, r.curIdx = c, idx
	}
	n := copy(p, r.cur[r.off-idx*r.chunk:])
	r.off += int64(n)
	return n, nil
}

// ReadAt reads the chunks p covers from off; it keeps no state, so
// concurrent ReadAts are safe.
func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("blobstore: read %s at %d: negative offset", r.hash, off)
	}
	var buf []byte
	n := 0
	for n < len(p) && off < r.size {
		idx := off / r.chunk
		c, err := r.load(idx, buf)
		if err != nil {
			return n, err
		}
		buf = c
		m := copy(p[n:], c[off-idx*r.chunk:])
		n += m
		off += int64(m)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (r *reader) Seek(offset int64, whence int) (int64, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, fmt.Errorf("blobstore: seek %s: bad whence %d", r.hash, whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("blobstore: seek %s: negative position %d", r.hash, offset)
	}
	r.off = offset
	return offset, nil
}

func (r *reader) Close() error {
	r.closed = true
	r.cur = nil
	return nil
}

// removeBatch is how many chunks one Update of Remove or Sweep deletes: a
// Update's writes stay small (keys only), and 100 MiB go in two.
const removeBatch = 64

// Remove deletes the record of hash, then its chunks, unless the bytes
// were committed less than RemoveGuard ago (Options.RemoveGuard).
func (s *Store) Remove(hash string) error {
	if !core.ValidBlobHash(hash) {
		return nil
	}
	ctx := context.Background()
	var (
		rec   record
		found bool
	)
	err := s.space.Update(ctx, func(tx core.KeyspaceTx) error {
		var err error
		found, err = getJSON(tx, recordKey(hash), &rec)
		if err != nil || !found {
			return err
		}
		if s.guard > 0 && s.now().UnixMilli()-rec.CommittedMS < s.guard.Milliseconds() {
			found = false // an upload found the bytes stored just now: keep them
			return nil
		}
		return tx.Delete(recordKey(hash))
	})
	if err != nil {
		return fmt.Errorf("blobstore: remove %s: %w", hash, err)
	}
	if !found {
		return nil
	}
	if err := s.deleteChunks(ctx, hash, rec.chunks()); err != nil {
		return fmt.Errorf("blobstore: remove %s: %w", hash, err)
	}
	return nil
}

// deleteChunks deletes chunks 0…n-1 of hash, removeBatch per Update, and
// stops as soon as a marker or a record names hash again: a commit that
// began meanwhile writes every chunk after its marker, so none of its
// chunks is deleted.
func (s *Store) deleteChunks(ctx context.Context, hash string, n int64) error {
	for from := int64(0); from < n; from += removeBatch {
		stop := false
		err := s.space.Update(ctx, func(tx core.KeyspaceTx) error {
			stop = false
			for _, k := range [][]byte{pendingKey(hash), recordKey(hash)} {
				_, err := tx.Get(k)
				if err == nil {
					stop = true
					return nil
				}
				if !errors.Is(err, storage.ErrNotFound) {
					return err
				}
			}
			for idx := from; idx < min(n, from+removeBatch); idx++ {
				if err := tx.Delete(chunkKey(hash, idx)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if stop {
			return nil
		}
	}
	return nil
}

// Sweep removes the chunks of commits whose pending marker has not moved
// for StaleAfter (their node died mid-commit), and the markers. Core's
// collector calls it (core.BlobSweeper).
func (s *Store) Sweep(ctx context.Context) (int, error) {
	cutoff := s.now().Add(-s.stale).UnixMilli()
	type leftover struct {
		hash string
		p    pending
	}
	var stale []leftover
	err := s.space.View(ctx, func(tx core.KeyspaceTx) error {
		stale = stale[:0]
		var decodeErr error
		err := tx.Scan(storage.PrefixRange([]byte("p")), func(k, v []byte) bool {
			var p pending
			if decodeErr = json.Unmarshal(v, &p); decodeErr != nil {
				decodeErr = fmt.Errorf("decode %q: %w", k, decodeErr)
				return false
			}
			if p.WrittenMS <= cutoff {
				stale = append(stale, leftover{hash: string(k[1:]), p: p})
			}
			return true
		})
		if err != nil {
			return err
		}
		return decodeErr
	})
	if err != nil {
		return 0, fmt.Errorf("blobstore: sweep: %w", err)
	}
	removed := 0
	for _, l := range stale {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		dropped := false
		err := s.space.Update(ctx, func(tx core.KeyspaceTx) error {
			dropped = false
			var p pending
			ok, err := getJSON(tx, pendingKey(l.hash), &p)
			if err != nil || !ok || p.Token != l.p.Token || p.WrittenMS > cutoff {
				return err // completed or moved meanwhile
			}
			dropped = true
			return tx.Delete(pendingKey(l.hash))
		})
		if err != nil {
			return removed, fmt.Errorf("blobstore: sweep %s: %w", l.hash, err)
		}
		if !dropped || l.p.ChunkSize <= 0 {
			continue
		}
		if err := s.deleteChunks(ctx, l.hash, chunkCount(l.p.Size, l.p.ChunkSize)); err != nil {
			return removed, fmt.Errorf("blobstore: sweep %s: %w", l.hash, err)
		}
		removed++
	}
	return removed, nil
}

var (
	_ core.BlobFiles   = (*Store)(nil)
	_ core.BlobSweeper = (*Store)(nil)
)
