package postgres_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/strata-dev/strata/plugins/postgres/pgtest"
	"github.com/strata-dev/strata/sdk/storage"
)

// TestScanMergesPendingWrites scans, inside an Update, a bucket whose
// committed keys span several pages while the Update has put, overwritten
// and deleted keys between them (and, in one case, deleted the bucket
// first): the scan sees the Update's writes in order, in both directions
// and within ranges.
func TestScanMergesPendingWrites(t *testing.T) {
	t.Parallel()
	s := openStore(t, pgtest.NewSchema(t, pgtest.NewDatabase(t)))
	key := func(i int) string { return fmt.Sprintf("k%03d", i) }
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		for i := 0; i < 200; i += 2 { // even keys committed
			if err := tx.Put("b", []byte(key(i)), []byte("db")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		clear bool
		r     storage.Range
	}{
		{"all", false, storage.Range{}},
		{"all reverse", false, storage.Range{Reverse: true}},
		{"range", false, storage.Range{Start: []byte(key(33)), End: []byte(key(151))}},
		{"range reverse", false, storage.Range{Start: []byte(key(33)), End: []byte(key(151)), Reverse: true}},
		{"cleared", true, storage.Range{}},
		{"cleared reverse", true, storage.Range{Reverse: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				got   []string
				model map[string]string
			)
			errRollback := errors.New("roll back")
			err := s.Update(t.Context(), func(tx storage.Tx) error {
				got, model = nil, map[string]string{} // fn may run again
				if !tt.clear {
					for i := 0; i < 200; i += 2 {
						model[key(i)] = "db"
					}
				}
				if tt.clear {
					if err := tx.DeleteBucket("b"); err != nil {
						return err
					}
				}
				for i := 0; i < 200; i++ {
					var err error
					switch i % 5 {
					case 0, 3: // new odd keys and overwrites of even ones
						err = tx.Put("b", []byte(key(i)), []byte("tx"))
						model[key(i)] = "tx"
					case 4: // deletions, of committed keys too
						err = tx.Delete("b", []byte(key(i)))
						delete(model, key(i))
					}
					if err != nil {
						return err
					}
				}
				err := tx.Scan("b", tt.r, func(k, v []byte) bool {
					got = append(got, string(k)+"="+string(v))
					return true
				})
				if err != nil {
					return err
				}
				return errRollback // leave the committed keys as they are
			})
			if !errors.Is(err, errRollback) {
				t.Fatal(err)
			}
			var want []string
			for k, v := range model {
				if (tt.r.Start == nil || k >= string(tt.r.Start)) && (tt.r.End == nil || k < string(tt.r.End)) {
					want = append(want, k+"="+v)
				}
			}
			slices.Sort(want)
			if tt.r.Reverse {
				slices.Reverse(want)
			}
			if !slices.Equal(got, want) {
				t.Errorf("scan %s:\n got %q\nwant %q", tt.name, got, want)
			}
		})
	}
}
