package core

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/strata-dev/strata/sdk/storage"
)

// Blobs (SPEC §9): files stored by the SHA-256 of their bytes. The bytes
// live outside the store, in a BlobFiles (package blobfs keeps them as
// files under the data directory); the store keeps what is known of each
// blob and who may read it:
//
//	blobs          hash                                   → blobRecord JSON
//	blob_refs      hash 0x00 type 0x00 id 0x00 rev (4 B)  → "" (a revision that references the blob)
//	blob_uploaders hash 0x00 principal id                 → "" (who uploaded these bytes)
//
// A blob_refs entry is written in the transaction that writes the
// revision. Entries are not removed when revisions go (retention, purge,
// a dropped type): the collector checks each entry against the revision
// it names and drops the stale ones, so whatever removes revisions, a blob
// is kept exactly as long as a stored revision names it.
const (
	bucketBlobs         = "blobs"
	bucketBlobRefs      = "blob_refs"
	bucketBlobUploaders = "blob_uploaders"
)

// DefaultBlobLimit is Options.BlobLimit when zero: 100 MiB.
const DefaultBlobLimit = 100 << 20

// DefaultBlobGrace is Options.BlobGrace when zero: a day.
const DefaultBlobGrace = 24 * time.Hour

// FormatBlob is the JSON Schema format of a property that holds a blob's
// hash: {"type": "string", "format": "blob"}.
const FormatBlob = "blob"

// blobHashPattern is the shape of a blob address.
var blobHashPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ValidBlobHash reports whether s has the shape of a blob address,
// "sha256:" and 64 lowercase hex digits.
func ValidBlobHash(s string) bool { return len(s) == 71 && blobHashPattern.MatchString(s) }

// BlobFiles keeps the bytes of blobs, by hash. Package blobfs implements
// it over a directory. Implementations are safe for concurrent use.
type BlobFiles interface {
	// Stage copies r into temporary storage while hashing it, reading at
	// most limit bytes: a longer r fails with an error wrapping
	// ErrTooLarge, and nothing is kept.
	Stage(ctx context.Context, r io.Reader, limit int64) (StagedBlob, error)
	// Open opens the bytes of hash; a missing blob is an error wrapping
	// ErrNotFound.
	Open(hash string) (BlobReader, error)
	// Remove deletes the bytes of hash; a missing blob is not an error.
	Remove(hash string) error
}

// BlobSweeper is an optional interface of a BlobFiles that may hold
// leftovers no blob record names, such as the chunks of a commit cut short
// when its node died (package blobstore). The collector calls Sweep after
// each collection, on one node of those sharing the store; it returns how
// many leftovers it removed.
type BlobSweeper interface {
	Sweep(ctx context.Context) (int, error)
}

// bucketBlobBytes is the bucket of BlobBytesKeyspace.
const bucketBlobBytes = "blob_bytes"

// BlobBytesKeyspace returns the keyspace where package blobstore keeps the
// bytes of blobs in the store itself, so that every node sharing the store
// reads them. Its writes are not changes of configuration: no node reloads
// anything when bytes are written.
func BlobBytesKeyspace(store storage.Store) Keyspace {
	return Keyspace{store: store, bucket: bucketBlobBytes}
}

// StagedBlob is an upload in temporary storage. Exactly one of Commit and
// Discard is called.
type StagedBlob interface {
	// Hash is the blob's address, "sha256:<hex>".
	Hash() string
	// Size is its length in bytes.
	Size() int64
	// Head is its first bytes (up to 512), to sniff its content type.
	Head() []byte
	// Commit makes the bytes durable under Hash; bytes already stored
	// under it are kept (they are the same).
	Commit() error
	// Discard drops the temporary bytes.
	Discard()
}

// BlobReader reads the bytes of one blob.
type BlobReader interface {
	io.ReadSeekCloser
	io.ReaderAt
}

// Blob describes a stored blob.
type Blob struct {
	// Hash is the address, "sha256:<hex>".
	Hash string `json:"hash"`
	// Size is the length in bytes.
	Size int64 `json:"size"`
	// ContentType is what the first uploader said it was, or what its
	// first bytes look like (http.DetectContentType).
	ContentType string `json:"content_type"`
	// CreatedAt and CreatedBy are the first upload's time and principal.
	CreatedAt string `json:"created_at"`
	CreatedBy string `json:"created_by"`
}

// blobRecord is what bucket blobs holds for a blob. UploadedMS is the
// latest upload, from which the grace period of an unreferenced blob runs.
type blobRecord struct {
	Blob
	UploadedMS int64 `json:"uploaded_ms"`
}

// blobState is the Manager's part for blobs.
type blobState struct {
	files BlobFiles // nil: no blob storage
	limit int64
	grace time.Duration
	// locks order the collector's removal of a blob against an upload of
	// the same bytes, so that an upload never records a blob whose file
	// the collector is about to delete; striped by hash, so uploads of
	// different bytes commit side by side.
	locks [64]sync.Mutex
}

// lock takes the lock of hash ("sha256:" and hex digits) and returns its
// unlock.
func (b *blobState) lock(hash string) func() {
	i := 0
	if len(hash) >= 9 {
		i = int(hexNibble(hash[7])<<4|hexNibble(hash[8])) % len(b.locks)
	}
	b.locks[i].Lock()
	return b.locks[i].Unlock
}

func hexNibble(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}

// blobGCInterval is how often the collector runs at most; it runs more
// often when the grace period is short.
const blobGCInterval = time.Hour

func (m *Manager) initBlobs(opts Options) {
	m.blob.files = opts.Blobs
	m.blob.limit = opts.BlobLimit
	if m.blob.limit <= 0 {
		m.blob.limit = DefaultBlobLimit
	}
	m.blob.grace = opts.BlobGrace
	if m.blob.grace <= 0 {
		m.blob.grace = DefaultBlobGrace
	}
	if m.blob.files != nil && !opts.NoBlobCollector {
		m.every("blobs: collection", min(blobGCInterval, max(m.blob.grace/2, time.Second)), m.collectTick)
	}
}

// BlobLimit is the largest blob an upload may store, in bytes.
func (m *Manager) BlobLimit() int64 { return m.blob.limit }

func (m *Manager) blobFiles() (BlobFiles, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if m.blob.files == nil {
		return nil, errorf(ErrInvalid, "this server has no blob storage (it runs without a data directory)")
	}
	return m.blob.files, nil
}

// PutBlob stores the bytes of r as a blob of the principal acting in ctx,
// who must be authenticated; up to BlobLimit bytes are read, a longer r
// fails with ErrTooLarge. contentType, when empty, is sniffed from the
// first bytes. Bytes already stored are stored once: the blob gets the new
// uploader, and its grace period starts again.
func (m *Manager) PutBlob(ctx context.Context, r io.Reader, contentType string) (Blob, error) {
	by := PrincipalFrom(ctx)
	if !by.Authenticated() && !by.IsAdmin() {
		return Blob{}, errorf(ErrUnauthenticated, "uploading a blob needs credentials")
	}
	files, err := m.blobFiles()
	if err != nil {
		return Blob{}, err
	}
	staged, err := files.Stage(ctx, r, m.blob.limit)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return Blob{}, errorf(ErrTooLarge, "the blob is larger than the limit of %d bytes (blob_limit)", m.blob.limit)
		}
		return Blob{}, fmt.Errorf("core: stage blob: %w", err)
	}
	if contentType == "" {
		contentType = http.DetectContentType(staged.Head())
	}
	hash := staged.Hash()
	defer m.blob.lock(hash)()
	if err := staged.Commit(); err != nil {
		return Blob{}, fmt.Errorf("core: store blob: %w", err)
	}
	var out Blob
	err = m.store.Update(ctx, func(tx storage.Tx) error {
		now := m.now()
		var rec blobRecord
		err := getJSON(tx, bucketBlobs, []byte(hash), &rec)
		switch {
		case isNotFound(err):
			rec = blobRecord{Blob: Blob{Hash: hash, Size: staged.Size(), ContentType: contentType,
				CreatedAt: formatTime(now), CreatedBy: by.ID}}
		case err != nil:
			return err
		}
		rec.UploadedMS = now.UnixMilli()
		if err := putJSON(tx, bucketBlobs, []byte(hash), &rec); err != nil {
			return err
		}
		out = rec.Blob
		return tx.Put(bucketBlobUploaders, blobUploaderKey(hash, by.ID), nil)
	})
	if err != nil {
		return Blob{}, fmt.Errorf("core: record blob %s: %w", hash, err)
	}
	return out, nil
}

// OpenBlob opens a blob for the principal acting in ctx: administrators,
// its uploaders, and whoever may read a resource one of whose stored
// revisions references it. Anyone else, like a hash that is not stored,
// gets ErrNotFound, so a hash cannot be probed. The caller closes the
// reader.
func (m *Manager) OpenBlob(ctx context.Context, hash string) (Blob, BlobReader, error) {
	files, err := m.blobFiles()
	if err != nil {
		return Blob{}, nil, err
	}
	notFound := errorf(ErrNotFound, "blob %s not found", hash)
	if !ValidBlobHash(hash) {
		return Blob{}, nil, notFound
	}
	by := PrincipalFrom(ctx)
	var rec blobRecord
	err = m.store.View(ctx, func(tx storage.Tx) error {
		if err := getJSON(tx, bucketBlobs, []byte(hash), &rec); err != nil {
			return err
		}
		ok, err := m.mayReadBlob(tx, by, hash)
		if err != nil {
			return err
		}
		if !ok {
			return storage.ErrNotFound
		}
		return nil
	})
	if isNotFound(err) {
		return Blob{}, nil, notFound
	}
	if err != nil {
		return Blob{}, nil, fmt.Errorf("core: read blob %s: %w", hash, err)
	}
	rd, err := files.Open(hash)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Blob{}, nil, notFound
		}
		return Blob{}, nil, fmt.Errorf("core: open blob %s: %w", hash, err)
	}
	return rec.Blob, rd, nil
}

// mayReadBlob reports whether p may read the blob hash: an administrator,
// an uploader, or someone who may read a resource whose stored revision
// references it. The references are found by prefix in blob_refs.
func (m *Manager) mayReadBlob(tx storage.Tx, p Principal, hash string) (bool, error) {
	if p.IsAdmin() {
		return true, nil
	}
	if p.Authenticated() {
		_, err := tx.Get(bucketBlobUploaders, blobUploaderKey(hash, p.ID))
		if err == nil {
			return true, nil
		}
		if !isNotFound(err) {
			return false, err
		}
	}
	var (
		ok       bool
		checkErr error
		last     string
	)
	err := tx.Scan(bucketBlobRefs, storage.PrefixRange([]byte(hash+"\x00")), func(k, _ []byte) bool {
		typ, id, _, valid := parseBlobRefKey(k)
		if !valid || typ+"\x00"+id == last {
			return true
		}
		last = typ + "\x00" + id
		ok, checkErr = m.canReadLive(tx, p, typ, id)
		return !ok && checkErr == nil
	})
	if checkErr != nil {
		return false, checkErr
	}
	return ok, err
}

// canReadLive reports whether p may read typ/id and it is not deleted: a
// soft-deleted resource (410 to its readers) lends no blob access.
func (m *Manager) canReadLive(tx storage.Tx, p Principal, typ, id string) (bool, error) {
	ct := m.typeSet()[typ]
	if ct == nil {
		return false, nil
	}
	meta, err := getMeta(tx, typ, id)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s/%s: %w", typ, id, err)
	}
	if meta.Deleted {
		return false, nil
	}
	return ct.def.Grant(p, PermRead).Allows(p, meta.CreatedBy), nil
}

func blobUploaderKey(hash, who string) []byte { return []byte(hash + "\x00" + who) }

func blobRefKey(hash, typ, id string, rev int) []byte {
	k := make([]byte, 0, len(hash)+len(typ)+len(id)+7)
	k = append(k, hash...)
	k = append(k, 0)
	k = append(k, typ...)
	k = append(k, 0)
	k = append(k, id...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, uint32(rev))
}

func parseBlobRefKey(k []byte) (typ, id string, rev int, ok bool) {
	if len(k) < 4+3 {
		return "", "", 0, false
	}
	rev = int(binary.BigEndian.Uint32(k[len(k)-4:]))
	parts := strings.Split(string(k[:len(k)-5]), "\x00")
	if len(parts) != 3 || k[len(k)-5] != 0 {
		return "", "", 0, false
	}
	return parts[1], parts[2], rev, true
}

// blobFields lists the top-level properties of a schema that hold blob
// hashes: {"format": "blob"}, or an array whose items are.
func blobFields(schema map[string]any) (single, arrays []string) {
	props, _ := schema["properties"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(props)) {
		p, _ := props[name].(map[string]any)
		if p == nil {
			continue
		}
		if p["format"] == FormatBlob {
			single = append(single, name)
			continue
		}
		if items, _ := p["items"].(map[string]any); items != nil && items["format"] == FormatBlob {
			arrays = append(arrays, name)
		}
	}
	return single, arrays
}

// blobRefs returns the blob hashes obj holds in the type's blob fields,
// with the field each was found in first.
func (ct *compiledType) blobRefs(obj map[string]any) (hashes []string, fields map[string]string) {
	add := func(field string, v any) {
		s, ok := v.(string)
		if !ok {
			return
		}
		if fields == nil {
			fields = map[string]string{}
		}
		if _, seen := fields[s]; !seen {
			fields[s] = field
			hashes = append(hashes, s)
		}
	}
	for _, f := range ct.blobs.single {
		add("/"+f, obj[f])
	}
	for _, f := range ct.blobs.arrays {
		list, _ := obj[f].([]any)
		for i, v := range list {
			add(fmt.Sprintf("/%s/%d", f, i), v)
		}
	}
	return hashes, fields
}

// typeBlobs are the blob fields of a compiled type.
type typeBlobs struct{ single, arrays []string }

// linkBlobs records that revision rev of ct/id references the blobs its
// data names, failing with ErrConflict when one is not stored or is one
// the writer may not read (the two answer alike, so a hash cannot be
// probed, and nobody gains read access to a blob by naming it).
func (w *writer) linkBlobs(ct *compiledType, id string, rev int, obj map[string]any) error {
	if len(ct.blobs.single)+len(ct.blobs.arrays) == 0 {
		return nil
	}
	hashes, fields := ct.blobRefs(obj)
	var broken []FieldError
	for _, h := range hashes {
		_, err := w.tx.Get(bucketBlobs, []byte(h))
		ok := err == nil
		if err != nil && !isNotFound(err) {
			return err
		}
		if ok {
			// A blob the resource already names needs no read check: an
			// on_delete set_null or a switch writes it again on behalf
			// of someone who may not read it.
			if ok, err = w.holdsBlob(h, ct.def.Name, id); err == nil && !ok {
				ok, err = w.m.mayReadBlob(w.tx, w.by, h)
			}
			if err != nil {
				return err
			}
		}
		if !ok {
			broken = append(broken, FieldError{Path: fields[h], Source: "blob", Message: fmt.Sprintf("blob %s not found", h)})
			continue
		}
		if err := w.tx.Put(bucketBlobRefs, blobRefKey(h, ct.def.Name, id, rev), nil); err != nil {
			return err
		}
	}
	if len(broken) > 0 {
		return fieldError(ErrConflict, "blob not found", broken...)
	}
	return nil
}

// holdsBlob reports whether a stored revision of typ/id names the blob.
func (w *writer) holdsBlob(hash, typ, id string) (bool, error) {
	found := false
	prefix := []byte(hash + "\x00" + typ + "\x00" + id + "\x00")
	err := w.tx.Scan(bucketBlobRefs, storage.PrefixRange(prefix), func(k, _ []byte) bool {
		found = len(k) == len(prefix)+4
		return !found
	})
	return found, err
}

// CollectBlobs removes the blobs that no stored revision references and
// that were last uploaded longer than the grace period ago
// (Options.BlobGrace), and drops the reference entries of revisions that
// are gone. It returns how many blobs it removed. The Manager runs it in
// the background; it is exported for operators and tests.
func (m *Manager) CollectBlobs(ctx context.Context) (int, error) {
	files, err := m.blobFiles()
	if err != nil {
		return 0, err
	}
	cutoff := m.now().Add(-m.blob.grace).UnixMilli()
	var candidates []string
	err = m.store.View(ctx, func(tx storage.Tx) error {
		candidates = candidates[:0]
		return tx.Scan(bucketBlobs, storage.Range{}, func(k, v []byte) bool {
			var rec blobRecord
			if decodeErr := json.Unmarshal(v, &rec); decodeErr == nil && rec.UploadedMS <= cutoff {
				candidates = append(candidates, string(k))
			}
			return true
		})
	})
	if err != nil {
		return 0, fmt.Errorf("core: list blobs: %w", err)
	}
	removed := 0
	for _, hash := range candidates {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		gone, err := m.collectBlob(ctx, files, hash, cutoff)
		if err != nil {
			return removed, err
		}
		if gone {
			removed++
		}
	}
	if sw, ok := files.(BlobSweeper); ok {
		n, err := sw.Sweep(ctx)
		if n > 0 {
			m.log.InfoContext(ctx, "blobs: removed the leftovers of interrupted uploads", slog.Int("removed", n))
		}
		if err != nil {
			return removed, fmt.Errorf("core: sweep blob storage: %w", err)
		}
	}
	return removed, nil
}

// collectBlob removes one blob if it is still unreferenced and past its
// grace period.
func (m *Manager) collectBlob(ctx context.Context, files BlobFiles, hash string, cutoff int64) (bool, error) {
	defer m.blob.lock(hash)()
	var gone bool
	err := m.store.Update(ctx, func(tx storage.Tx) error {
		gone = false
		var rec blobRecord
		if err := getJSON(tx, bucketBlobs, []byte(hash), &rec); err != nil {
			if isNotFound(err) {
				return nil
			}
			return err
		}
		if rec.UploadedMS > cutoff {
			return nil // uploaded again meanwhile
		}
		var stale [][]byte
		referenced := false
		types := m.typeSet()
		err := tx.Scan(bucketBlobRefs, storage.PrefixRange([]byte(hash+"\x00")), func(k, _ []byte) bool {
			typ, id, rev, ok := parseBlobRefKey(k)
			if ok && types[typ] != nil {
				if _, err := tx.Get(revBucket(typ), revKey(id, rev)); err == nil {
					referenced = true
					return false
				}
			}
			stale = append(stale, bytes.Clone(k))
			return true
		})
		if err != nil {
			return err
		}
		for _, k := range stale {
			if err := tx.Delete(bucketBlobRefs, k); err != nil {
				return err
			}
		}
		if referenced {
			return nil
		}
		var uploaders [][]byte
		if err := tx.Scan(bucketBlobUploaders, storage.PrefixRange([]byte(hash+"\x00")), func(k, _ []byte) bool {
			uploaders = append(uploaders, bytes.Clone(k))
			return true
		}); err != nil {
			return err
		}
		for _, k := range uploaders {
			if err := tx.Delete(bucketBlobUploaders, k); err != nil {
				return err
			}
		}
		gone = true
		return tx.Delete(bucketBlobs, []byte(hash))
	})
	if err != nil {
		return false, fmt.Errorf("core: collect blob %s: %w", hash, err)
	}
	if gone {
		if err := files.Remove(hash); err != nil {
			return true, fmt.Errorf("core: remove blob %s: %w", hash, err)
		}
	}
	return gone, nil
}

// collectTick is the periodic blob collection (every hour, or every half
// grace period when that is shorter).
func (m *Manager) collectTick(ctx context.Context) error {
	n, err := m.CollectBlobs(ctx)
	if n > 0 {
		m.log.InfoContext(ctx, "blobs: removed unreferenced blobs", slog.Int("removed", n))
	}
	return err
}
