package memory_test

import (
	"context"
	"fmt"
	"log"

	"github.com/strata-dev/strata/plugins/memory"
	"github.com/strata-dev/strata/sdk/storage"
)

// Register the backend under a scheme, open it by URL, write in an Update
// and read in a View.
func Example() {
	ctx := context.Background()
	var reg storage.Registry
	reg.Register("memory", memory.Open)
	store, err := reg.Open(ctx, "memory:", storage.OpenOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	err = store.Update(ctx, func(tx storage.Tx) error {
		for _, lang := range []string{"en", "de", "fr"} {
			if err := tx.Put("greetings", []byte(lang), []byte("hello in "+lang)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	err = store.View(ctx, func(tx storage.Tx) error {
		return tx.Scan("greetings", storage.Range{}, func(k, v []byte) bool {
			fmt.Printf("%s: %s\n", k, v)
			return true
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// de: hello in de
	// en: hello in en
	// fr: hello in fr
}
