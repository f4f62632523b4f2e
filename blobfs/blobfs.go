// Package blobfs keeps the bytes of Strata's blobs as files in a
// directory, by content address: the blob sha256:abcd… is the file
// ab/abcd… under the directory. It implements core.BlobFiles; core keeps
// what is known of each blob (size, type, uploaders, references) in the
// store and decides who may read it.
//
// An upload is written to a temporary file under tmp/ while it is hashed,
// fsynced, and renamed into place; the directory is fsynced after the
// rename, so a blob whose metadata is committed survives a crash. Bytes
// already stored under a hash are not written again.
package blobfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-dev/strata/core"
)

// Dir is a blob directory. It is safe for concurrent use.
type Dir struct {
	root string
	tmp  string
}

// Open opens (creating it when missing) the blob directory root, and
// removes the temporary files an interrupted upload left behind.
func Open(root string) (*Dir, error) {
	d := &Dir{root: root, tmp: filepath.Join(root, "tmp")}
	if err := os.MkdirAll(d.tmp, 0o750); err != nil {
		return nil, fmt.Errorf("blobfs: create %s: %w", d.tmp, err)
	}
	left, err := os.ReadDir(d.tmp)
	if err != nil {
		return nil, fmt.Errorf("blobfs: read %s: %w", d.tmp, err)
	}
	for _, e := range left {
		_ = os.Remove(filepath.Join(d.tmp, e.Name()))
	}
	// The 256 fan-out directories are made once, so an upload syncs only
	// its file and the directory it is renamed into.
	made := false
	for i := range 256 {
		dir := filepath.Join(root, fmt.Sprintf("%02x", i))
		if _, err := os.Stat(dir); err == nil {
			continue
		}
		if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("blobfs: create %s: %w", dir, err)
		}
		made = true
	}
	if made {
		if err := syncDir(root); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// path is where the bytes of hash live; ok is false for a malformed hash.
func (d *Dir) path(hash string) (string, bool) {
	if !core.ValidBlobHash(hash) {
		return "", false
	}
	hexa := strings.TrimPrefix(hash, "sha256:")
	return filepath.Join(d.root, hexa[:2], hexa), true
}

// Stage copies r into a temporary file while hashing it.
func (d *Dir) Stage(ctx context.Context, r io.Reader, limit int64) (core.StagedBlob, error) {
	t, err := StageTemp(ctx, d.tmp, r, limit)
	if err != nil {
		return nil, err
	}
	return &staged{d: d, t: t}, nil
}

// Temp is an upload copied into a temporary file while it was hashed. Dir
// keeps one until the upload is committed; package blobstore stages its
// uploads the same way before it writes them into the store.
type Temp struct {
	// File is the temporary file, open for reading and writing.
	File *os.File
	// Hash is the blob's address, "sha256:<hex>".
	Hash string
	// Size is its length in bytes.
	Size int64
	// Head is its first bytes (up to 512).
	Head []byte
}

// StageTemp copies r into a new temporary file in dir while hashing it,
// reading at most limit bytes: a longer r fails with an error wrapping
// core.ErrTooLarge, and nothing is kept. It copies 256 KiB at a time, so
// memory stays bounded whatever the size. The caller calls Remove.
func StageTemp(ctx context.Context, dir string, r io.Reader, limit int64) (*Temp, error) {
	f, err := os.CreateTemp(dir, "upload-*")
	if err != nil {
		return nil, fmt.Errorf("blobfs: create temporary file: %w", err)
	}
	t := &Temp{File: f}
	h := sha256.New()
	ok := false
	defer func() {
		if !ok {
			t.Remove()
		}
	}()
	buf := make([]byte, 256<<10)
	src := io.LimitReader(r, limit+1)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, rerr := io.ReadFull(src, buf)
		if n > 0 {
			if len(t.Head) < 512 {
				t.Head = append(t.Head, buf[:min(n, 512-len(t.Head))]...)
			}
			t.Size += int64(n)
			if t.Size > limit {
				return nil, fmt.Errorf("blobfs: blob over %d bytes: %w", limit, core.ErrTooLarge)
			}
			h.Write(buf[:n])
			if _, err := f.Write(buf[:n]); err != nil {
				return nil, fmt.Errorf("blobfs: write temporary file: %w", err)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("blobfs: read upload: %w", rerr)
		}
	}
	t.Hash = "sha256:" + hex.EncodeToString(h.Sum(nil))
	ok = true
	return t, nil
}

// Remove closes and deletes the temporary file.
func (t *Temp) Remove() {
	name := t.File.Name()
	_ = t.File.Close()
	_ = os.Remove(name)
}

type staged struct {
	d *Dir
	t *Temp
}

func (s *staged) Hash() string { return s.t.Hash }
func (s *staged) Size() int64  { return s.t.Size }
func (s *staged) Head() []byte { return s.t.Head }
func (s *staged) Discard()     { s.t.Remove() }

// Commit syncs the temporary file, renames it into place and syncs the
// directory.
func (s *staged) Commit() error {
	dst, _ := s.d.path(s.t.Hash)
	if _, err := os.Stat(dst); err == nil {
		s.Discard() // the same bytes are stored already
		return nil
	}
	f := s.t.File
	if err := f.Sync(); err != nil {
		s.Discard()
		return fmt.Errorf("blobfs: sync temporary file: %w", err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("blobfs: close temporary file: %w", err)
	}
	dir := filepath.Dir(dst)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			_ = os.Remove(f.Name())
			return fmt.Errorf("blobfs: create %s: %w", dir, err)
		}
		if err := syncDir(s.d.root); err != nil {
			return err
		}
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("blobfs: rename into place: %w", err)
	}
	return syncDir(dir)
}

// Open opens the bytes of hash.
func (d *Dir) Open(hash string) (core.BlobReader, error) {
	p, ok := d.path(hash)
	if !ok {
		return nil, fmt.Errorf("blobfs: %q: %w", hash, core.ErrNotFound)
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blobfs: %s: %w", hash, core.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blobfs: open %s: %w", hash, err)
	}
	return f, nil
}

// Remove deletes the bytes of hash.
func (d *Dir) Remove(hash string) error {
	p, ok := d.path(hash)
	if !ok {
		return nil
	}
	if err := os.Remove(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("blobfs: remove %s: %w", hash, err)
	}
	return syncDir(filepath.Dir(p))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blobfs: open %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("blobfs: sync %s: %w", dir, err)
	}
	return nil
}
