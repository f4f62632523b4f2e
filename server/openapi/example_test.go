package openapi_test

import (
	"encoding/json"
	"fmt"
	"log"
	"slices"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/server/openapi"
)

func ExampleDocument() {
	types := []core.Type{{
		Name:   "blog_posts",
		Schema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"}}}`),
	}}
	doc, err := openapi.Document(types, openapi.Info{Title: "Blog", Version: "1.0.0"})
	if err != nil {
		log.Fatal(err)
	}

	var d struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		log.Fatal(err)
	}
	fmt.Println("openapi", d.OpenAPI)
	item := d.Paths["/api/blog_posts/{id}"]
	var methods []string
	for m := range item {
		if m != "parameters" {
			methods = append(methods, m)
		}
	}
	slices.Sort(methods)
	for _, m := range methods {
		var op struct {
			OperationID string `json:"operationId"`
		}
		if err := json.Unmarshal(item[m], &op); err != nil {
			log.Fatal(err)
		}
		fmt.Println(m, op.OperationID)
	}
	// Output:
	// openapi 3.1.0
	// delete deleteBlogPosts
	// get getBlogPosts
	// patch patchBlogPosts
	// put replaceBlogPosts
}
