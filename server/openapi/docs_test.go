package openapi

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestDocsPage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, base, spec string
		want             []string
	}{
		{"docs", "/docs/assets", "/openapi.json", []string{
			`href="/docs/assets/swagger-ui.css"`,
			`src="/docs/assets/swagger-ui-bundle.js"`,
			`src="/docs/assets/strata-docs.js"`,
			`data-spec-url="/openapi.json"`,
		}},
		{"trailing slash", "/docs/assets/", "/openapi.json", []string{`src="/docs/assets/swagger-ui-bundle.js"`}},
		{"mounted", "/strata/docs/assets", "/strata/openapi.json", []string{
			`src="/strata/docs/assets/swagger-ui-bundle.js"`, `data-spec-url="/strata/openapi.json"`,
		}},
		{"relative", "assets", "openapi.json", []string{`src="assets/swagger-ui-bundle.js"`, `data-spec-url="openapi.json"`}},
		{"escaped", "/docs/a b", `/openapi.json?a=1&b="><script>`, []string{
			`src="/docs/a%20b/swagger-ui-bundle.js"`,
			`data-spec-url="/openapi.json?a=1&amp;b=%22%3e%3cscript%3e"`,
		}},
		{"unsafe scheme", "javascript:alert(1)//", "javascript:alert(1)", []string{`src="#ZgotmplZ/swagger-ui-bundle.js"`, `data-spec-url="#ZgotmplZ"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			page := string(DocsPage(tt.base, tt.spec))
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %s:\n%s", w, page)
				}
			}
			if strings.Count(page, "<script") != 2 {
				t.Errorf("want exactly the two asset scripts:\n%s", page)
			}
		})
	}
}

// TestDocsPageSelfContained checks that the page and our script load
// nothing from other hosts and that every asset the page names is served.
func TestDocsPageSelfContained(t *testing.T) {
	t.Parallel()
	page := DocsPage("/docs/assets", "/openapi.json")
	if bytes.Contains(page, []byte("//")) {
		t.Errorf("page names a URL with a host:\n%s", page)
	}
	refs := regexp.MustCompile(`(?:src|href)="/docs/assets/([^"]+)"`).FindAllSubmatch(page, -1)
	if len(refs) != 3 {
		t.Fatalf("want 3 asset references, got %d", len(refs))
	}
	for _, r := range refs {
		if _, _, ok := Asset(string(r[1])); !ok {
			t.Errorf("page refers to %s, which Asset does not serve", r[1])
		}
	}
	js, _, _ := Asset("strata-docs.js")
	for _, w := range []string{"SwaggerUIBundle(", `getAttribute("data-spec-url")`, "validatorUrl: null"} {
		if !bytes.Contains(js, []byte(w)) {
			t.Errorf("strata-docs.js lacks %s", w)
		}
	}
}

func TestAsset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		contentType string // "" when not served
	}{
		{"swagger-ui-bundle.js", "text/javascript; charset=utf-8"},
		{"strata-docs.js", "text/javascript; charset=utf-8"},
		{"swagger-ui.css", "text/css; charset=utf-8"},
		{"LICENSE", "text/plain; charset=utf-8"},
		{"NOTICE", "text/plain; charset=utf-8"},
		{"swagger-ui-bundle.js.LICENSE.txt", "text/plain; charset=utf-8"},
		{"", ""},
		{".", ""},
		{"missing.js", ""},
		{"../docs.go", ""},
		{"assets/swagger-ui.css", ""},
		{`..\docs.go`, ""},
		{"/swagger-ui.css", ""},
		{"swagger-ui.css/", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.name), func(t *testing.T) {
			t.Parallel()
			body, ct, ok := Asset(tt.name)
			if ok != (tt.contentType != "") {
				t.Fatalf("ok = %v", ok)
			}
			if !ok {
				return
			}
			if ct != tt.contentType {
				t.Errorf("content type = %q, want %q", ct, tt.contentType)
			}
			want, err := os.ReadFile(filepath.Join("assets", tt.name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, want) {
				t.Error("body differs from the file in assets/")
			}
		})
	}

	t.Run("copy", func(t *testing.T) {
		t.Parallel()
		a, _, _ := Asset("NOTICE")
		a[0] ^= 0xff
		b, _, _ := Asset("NOTICE")
		if a[0] == b[0] {
			t.Error("changing a returned body changed the embedded asset")
		}
	})
}

// TestAssetVersion checks that SwaggerUIVersion names the embedded bundle.
func TestAssetVersion(t *testing.T) {
	t.Parallel()
	js, _, _ := Asset("swagger-ui-bundle.js")
	if len(js) < 100_000 {
		t.Fatalf("swagger-ui-bundle.js is only %d bytes", len(js))
	}
	if !bytes.Contains(js, []byte(`PACKAGE_VERSION:"`+SwaggerUIVersion+`"`)) {
		t.Errorf("swagger-ui-bundle.js does not mention version %s", SwaggerUIVersion)
	}
}
