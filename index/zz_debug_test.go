package index

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/strata-dev/strata/index/filter"
)

func TestZZDebug(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	docs := make([]testDoc, 500)
	for i := range docs {
		docs[i] = randDoc(r, i)
	}
	m, _ := Mapping(filterPostsType)
	mem, _ := bleve.NewMemOnly(m)
	buildIndex(t, mem, docs)
	fs, _ := FilterSchema(filterPostsType)
	for _, src := range []string{
		`id = "p115"`, `flag = true`, `flag != false`, `views < 15`, `id != "p427"`, `title ~ "archived"`, `created_by != "Carol"`,
		`id != "p427" || (title ~ "archived")`,
		`id = "p115" || (flag = true) && flag != false && views < 15 && ((id != "p427" || (title ~ "archived")) && (created_by != "Carol"))`,
	} {
		e, err := filter.Parse(src, fs, filter.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		q, _ := Query(e, filterPostsType)
		done := make(chan string, 1)
		go func(q query.Query) {
			st := time.Now()
			ids, err := searchIDs(mem, q, 500)
			done <- fmt.Sprintf("%d hits err=%v in %v", len(ids), err, time.Since(st))
		}(q)
		select {
		case s := <-done:
			t.Logf("%s: %s", src, s)
		case <-time.After(5 * time.Second):
			t.Logf("%s: HANG", src)
		}
	}
}
