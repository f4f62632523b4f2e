package auth_test

import (
	"encoding/json"
	"testing"

	"github.com/strata-dev/strata/auth"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/sdk/storage"
)

// TestKeysStayInAuthKeysBucket pins the stored layout: keys live in the
// "auth_keys" bucket, one JSON record per key id, as they always have, so
// data directories written by earlier versions keep their keys. auth reaches
// the bucket only through core's keyspace.
func TestKeysStayInAuthKeysBucket(t *testing.T) {
	ctx := t.Context()
	store := openStore(t)
	// A record as an earlier version wrote it.
	old := []byte(`{"id":"0193aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa","name":"old","roles":["admin"],"created_at":"2024-01-01T00:00:00.000Z","hash":"AAAA"}`)
	if err := store.Update(ctx, func(tx storage.Tx) error {
		return tx.Put("auth_keys", []byte("0193aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa"), old)
	}); err != nil {
		t.Fatal(err)
	}
	ks := auth.NewKeys(store)
	k, _, err := ks.Create(ctx, "new", []string{"editor"}, core.Principal{ID: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	list, err := ks.List(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "old" || list[1].Name != "new" {
		t.Fatalf("List = %+v, %v; want the old key and the new one", list, err)
	}
	var stored auth.Key
	if err := store.View(ctx, func(tx storage.Tx) error {
		raw, err := tx.Get("auth_keys", []byte(k.ID))
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, &stored)
	}); err != nil {
		t.Fatalf("new key in auth_keys: %v", err)
	}
	if stored.Name != "new" || len(stored.Hash) != 32 {
		t.Errorf("stored record %+v, want name new and a SHA-256 hash", stored)
	}
}
