package core_test

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
)

// TestKeepLastDefault: Options.KeepLast applies to the types that set no
// retention; a type's own retention, keep_last 0 included, wins.
func TestKeepLastDefault(t *testing.T) {
	m := newBoltManager(t, core.Options{KeepLast: 2})
	ctx := core.AsSystem(t.Context())
	mustType(t, m, `{"name":"plain","schema":{"type":"object"}}`)
	mustType(t, m, `{"name":"all","schema":{"type":"object"},"retention":{"keep_last":0}}`)
	mustType(t, m, `{"name":"three","schema":{"type":"object"},"retention":{"keep_last":3}}`)
	for _, typ := range []string{"plain", "all", "three"} {
		if _, err := m.Create(ctx, typ, []byte(`{"id":"x","v":0}`), core.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		for v := 1; v < 6; v++ {
			if _, err := m.Replace(ctx, typ, "x", fmt.Appendf(nil, `{"v":%d}`, v), core.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := m.PruneRevisions(ctx); err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]int{"plain": 2, "all": 6, "three": 3} {
		page, err := m.Revisions(ctx, typ, "x", core.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != want {
			t.Errorf("%s keeps %d revisions, want %d", typ, len(page.Items), want)
		}
	}
}

// TestRetentionReusesSpace runs the same churn (100 resources updated
// 80 times with 4 KB of data) with and without keep_last 2, pruning
// after each round, and compares the bolt files: with retention the file
// stops growing, as bbolt reuses the pages pruning frees.
func TestRetentionReusesSpace(t *testing.T) {
	if testing.Short() {
		t.Skip("a churn of thousands of writes")
	}
	resources, rounds := 100, 80
	pad := strings.Repeat("x", 4000)
	sizes := map[int][]int64{}
	for _, keep := range []int{0, 2} {
		env := apptest.New(t)
		m := env.Manager
		ctx := core.AsSystem(t.Context())
		mustType(t, m, fmt.Sprintf(`{"name":"churn","schema":{"type":"object"},"retention":{"keep_last":%d}}`, keep))
		for r := range rounds {
			var wg sync.WaitGroup
			errs := make(chan error, resources)
			for i := range resources {
				wg.Go(func() {
					var err error
					if r == 0 {
						_, err = m.Create(ctx, "churn", fmt.Appendf(nil, `{"id":"r%d","round":0,"pad":%q}`, i, pad), core.WriteOptions{})
					} else {
						_, err = m.Replace(ctx, "churn", fmt.Sprintf("r%d", i), fmt.Appendf(nil, `{"round":%d,"pad":%q}`, r, pad), core.WriteOptions{})
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if _, err := m.PruneRevisions(ctx); err != nil {
				t.Fatal(err)
			}
			if r%10 == 9 {
				st, err := os.Stat(env.Path)
				if err != nil {
					t.Fatal(err)
				}
				sizes[keep] = append(sizes[keep], st.Size())
			}
		}
	}
	t.Logf("bolt file size every 10 rounds of %d updates of 4 KB: keep all %v; keep_last 2 %v", resources, sizes[0], sizes[2])
	all, kept := sizes[0], sizes[2]
	if kept[len(kept)-1]*2 > all[len(all)-1] {
		t.Fatalf("with retention the file is %d bytes, without %d: want less than half", kept[len(kept)-1], all[len(all)-1])
	}
	// The file with retention stops growing after the first rounds.
	if n := len(kept); n >= 4 && kept[n-1] > kept[1]*3/2 {
		t.Fatalf("with retention the file grew from %d to %d bytes", kept[1], kept[n-1])
	}
}
