// Package ui holds the admin UI served at /_/ and the landing page served
// at /: plain ES modules and a style sheet, embedded in the binary, with
// no build step and nothing loaded from elsewhere. Each file is
// compressed once, when first asked for, and served with a strong ETag.
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"path"
	"strings"
	"sync"
)

//go:embed static
var static embed.FS

// basePlaceholder stands in the HTML pages for the path the routes are
// mounted under ("" at the root, "/strata" under a group), so that their
// asset and API addresses are absolute without knowing it at build time.
const basePlaceholder = "%BASE%"

// CSP is the Content-Security-Policy of the pages: their own scripts,
// styles and connections only, never framed, no inline code.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// File is one asset as served: its body plain and gzipped, its media type
// and the entity tags of both encodings.
type File struct {
	ContentType string
	Body        []byte
	Gzip        []byte
	ETag        string
	GzipETag    string
}

var (
	mu    sync.Mutex
	cache = map[string]*File{}
)

// Asset returns the file of the admin UI called name ("app.js"), with
// base in place of the mount path in HTML pages. A name with a slash, or
// none embedded, is not found.
func Asset(name, base string) (*File, bool) {
	if name == "" || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		return nil, false
	}
	key := name + "\x00" + base
	mu.Lock()
	defer mu.Unlock()
	if f, ok := cache[key]; ok {
		return f, true
	}
	body, err := fs.ReadFile(static, path.Join("static", name))
	if err != nil {
		return nil, false
	}
	ct := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".html":
		body = bytes.ReplaceAll(body, []byte(basePlaceholder), []byte(base))
		ct = "text/html; charset=utf-8"
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	f := &File{ContentType: ct, Body: body, Gzip: compress(body)}
	sum := sha256.Sum256(body)
	tag := hex.EncodeToString(sum[:12])
	f.ETag, f.GzipETag = `"`+tag+`"`, `"`+tag+`-gz"`
	if len(cache) < 64 { // a few mount paths at most; never grows unbounded
		cache[key] = f
	}
	return f, true
}

func compress(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}
