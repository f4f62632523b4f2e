package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/sdk/storage"
)

// keyPrefix starts every API key token, so a token is recognisably a Strata
// key (and secret scanners can find leaked ones).
const keyPrefix = "sk_"

// Key describes an API key. The secret is never stored; only its SHA-256.
type Key struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Roles     []string `json:"roles"`
	CreatedAt string   `json:"created_at"`
	CreatedBy string   `json:"created_by,omitempty"`
	// Hash is the SHA-256 of the secret part of the token.
	Hash []byte `json:"hash,omitempty"`
}

// Principal is who a request made with the key acts as: the key's id, so
// that meta.created_by names the key, and its roles.
func (k *Key) Principal() core.Principal {
	return core.Principal{ID: "key:" + k.ID, Roles: k.Roles}
}

var (
	keyNameRE = regexp.MustCompile(`^[\p{L}\p{N} ._:@/-]{1,100}$`)
	roleRE    = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)
)

// Keys stores API keys in the keyspace core lends auth in a storage.Store,
// next to the resources. Lookups are cached in memory; a revoked key stops
// working at once in this process, and in the others sharing the store
// once they Flush.
type Keys struct {
	space core.Keyspace
	mu    sync.RWMutex
	cache map[string]*Key
	// revocations counts revokes, so a lookup that read a key before a
	// concurrent revoke committed does not put it back in the cache.
	revocations uint64
}

// NewKeys returns a key store over store, in core.AuthKeyspace(store).
func NewKeys(store storage.Store) *Keys {
	return &Keys{space: core.AuthKeyspace(store), cache: map[string]*Key{}}
}

// Create makes a new key with name and roles and returns it together with
// its token, which exists only in this return value.
func (ks *Keys) Create(ctx context.Context, name string, roles []string, by core.Principal) (Key, string, error) {
	if !keyNameRE.MatchString(name) {
		return Key{}, "", &core.Error{Kind: core.ErrInvalid, Detail: "key name must be 1 to 100 letters, digits, spaces or ._:@/-",
			Fields: []core.FieldError{{Path: "/name", Message: "invalid key name"}}}
	}
	if roles == nil {
		roles = []string{}
	}
	for i, r := range roles {
		if !roleRE.MatchString(r) {
			return Key{}, "", &core.Error{Kind: core.ErrInvalid, Detail: "role names are 1 to 64 letters, digits or _.:-",
				Fields: []core.FieldError{{Path: fmt.Sprintf("/roles/%d", i), Message: "invalid role name"}}}
		}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Key{}, "", fmt.Errorf("new key id: %w", err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, "", fmt.Errorf("new key secret: %w", err)
	}
	secretText := base64.RawURLEncoding.EncodeToString(secret)
	sum := sha256.Sum256([]byte(secretText))
	k := Key{ID: id.String(), Name: name, Roles: roles, CreatedBy: by.ID, Hash: sum[:],
		CreatedAt: time.Now().UTC().Format("2006-01-02T15:04:05.000Z")}
	raw, err := json.Marshal(&k)
	if err != nil {
		return Key{}, "", fmt.Errorf("encode key: %w", err)
	}
	err = ks.space.Update(ctx, func(tx core.KeyspaceTx) error {
		return tx.Put([]byte(k.ID), raw)
	})
	if err != nil {
		return Key{}, "", fmt.Errorf("store key %s: %w", k.ID, err)
	}
	k.Hash = nil
	return k, keyPrefix + k.ID + "_" + secretText, nil
}

// List returns every key, oldest first, without hashes.
func (ks *Keys) List(ctx context.Context) ([]Key, error) {
	keys := []Key{}
	err := ks.space.View(ctx, func(tx core.KeyspaceTx) error {
		var decodeErr error
		err := tx.Scan(storage.Range{}, func(_, v []byte) bool {
			var k Key
			if decodeErr = json.Unmarshal(v, &k); decodeErr != nil {
				return false
			}
			k.Hash = nil
			keys = append(keys, k)
			return true
		})
		if err != nil {
			return err
		}
		return decodeErr
	})
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys, nil
}

// Revoke deletes a key; requests made with it fail from then on.
func (ks *Keys) Revoke(ctx context.Context, id string) error {
	err := ks.space.Update(ctx, func(tx core.KeyspaceTx) error {
		if _, err := tx.Get([]byte(id)); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return &core.Error{Kind: core.ErrNotFound, Detail: fmt.Sprintf("no key %q", id)}
			}
			return err
		}
		return tx.Delete([]byte(id))
	})
	ks.mu.Lock()
	delete(ks.cache, id)
	ks.revocations++
	ks.mu.Unlock()
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	return nil
}

// Flush empties the cache: another process sharing the store changed the
// keys (core.Manager.OnConfigChange), and a key it revoked must stop
// working here too. A lookup that read a key before the flush does not
// put it back.
func (ks *Keys) Flush() {
	ks.mu.Lock()
	clear(ks.cache)
	ks.revocations++
	ks.mu.Unlock()
}

// AnyAdmin reports whether some stored key holds the admin role.
func (ks *Keys) AnyAdmin(ctx context.Context) (bool, error) {
	keys, err := ks.List(ctx)
	if err != nil {
		return false, err
	}
	for _, k := range keys {
		if k.Principal().IsAdmin() {
			return true, nil
		}
	}
	return false, nil
}

// errBadKey covers every way an API key token can fail; the client is not
// told which, so tokens cannot be probed.
var errBadKey = errors.New("invalid API key")

// verify returns the key a token belongs to.
func (ks *Keys) verify(ctx context.Context, token string) (*Key, error) {
	rest, ok := strings.CutPrefix(token, keyPrefix)
	if !ok {
		return nil, errBadKey
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 36 || secret == "" {
		return nil, errBadKey
	}
	k, err := ks.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(secret))
	if k == nil || subtle.ConstantTimeCompare(sum[:], k.Hash) != 1 {
		return nil, errBadKey
	}
	return k, nil
}

// lookup finds a key record by id: nil, nil when there is none.
func (ks *Keys) lookup(ctx context.Context, id string) (*Key, error) {
	ks.mu.RLock()
	k, ok := ks.cache[id]
	gen := ks.revocations
	ks.mu.RUnlock()
	if ok {
		return k, nil
	}
	var raw []byte
	err := ks.space.View(ctx, func(tx core.KeyspaceTx) error {
		v, err := tx.Get([]byte(id))
		if err != nil {
			return err
		}
		raw = append([]byte(nil), v...)
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", id, err)
	}
	k = new(Key)
	if err := json.Unmarshal(raw, k); err != nil {
		return nil, fmt.Errorf("decode key %s: %w", id, err)
	}
	ks.mu.Lock()
	// Unknown ids are not cached, so guessing cannot grow the cache; known
	// keys are few.
	if ks.revocations == gen {
		ks.cache[strings.Clone(id)] = k
	}
	ks.mu.Unlock()
	return k, nil
}
