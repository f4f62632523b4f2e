package openapi

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"path"
	"strings"
)

// SwaggerUIVersion is the version of the npm package swagger-ui-dist whose
// files are embedded in assets/.
const SwaggerUIVersion = "5.35.0"

//go:embed assets
var assets embed.FS

var docsTemplate = template.Must(template.New("docs").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API docs</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{{.Assets}}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-spec-url="{{.SpecURL}}"></div>
<script src="{{.Assets}}/swagger-ui-bundle.js"></script>
<script src="{{.Assets}}/strata-docs.js"></script>
</body>
</html>
`))

// DocsPage returns the HTML of the interactive API docs (Swagger UI) for
// the OpenAPI document at specURL, e.g. "/openapi.json".
//
// assetsURL is the URL path under which the server answers Asset(name) at
// assetsURL + "/" + name, e.g. "/docs/assets" (a trailing slash is
// ignored). The page loads swagger-ui.css, swagger-ui-bundle.js and
// strata-docs.js from there. It loads nothing from other hosts and has no
// inline script, so it works offline and under a Content-Security-Policy
// of script-src 'self'. Swagger UI sets inline styles and uses data: images,
// so style-src needs 'unsafe-inline' and img-src data:.
//
// Both arguments are escaped for their place in the page.
func DocsPage(assetsURL, specURL string) []byte {
	var b bytes.Buffer
	err := docsTemplate.Execute(&b, struct{ Assets, SpecURL string }{strings.TrimRight(assetsURL, "/"), specURL})
	if err != nil {
		// The template is fixed and its data two strings: it cannot fail.
		panic("openapi: docs page: " + err.Error())
	}
	return b.Bytes()
}

// Asset returns an embedded docs asset by file name, as DocsPage refers to
// it: swagger-ui-bundle.js, swagger-ui.css, strata-docs.js, or the license
// files LICENSE, NOTICE and swagger-ui-bundle.js.LICENSE.txt. contentType
// is the value for the Content-Type header. ok is false for any other name,
// including names with a path; the server should answer 404.
//
// Each call returns a new copy of the file, which the caller owns. Asset is
// safe for concurrent use.
func Asset(name string) (body []byte, contentType string, ok bool) {
	if name == "" || strings.ContainsAny(name, `/\`) || !fs.ValidPath(name) {
		return nil, "", false
	}
	body, err := assets.ReadFile("assets/" + name)
	if err != nil {
		return nil, "", false
	}
	switch path.Ext(name) {
	case ".js":
		contentType = "text/javascript; charset=utf-8"
	case ".css":
		contentType = "text/css; charset=utf-8"
	default:
		contentType = "text/plain; charset=utf-8"
	}
	return body, contentType, true
}
