// Package openapi describes a Strata server in OpenAPI 3.1 and serves
// interactive docs for it.
//
// It has no HTTP framework in it: the server package binds the routes and
// calls these plain functions.
//
// # The document
//
// [Document] builds the OpenAPI document from the live types, so it
// changes when a type is created, changed or dropped. Each type's JSON
// Schema is embedded as components.schemas.<type> (OpenAPI 3.1 uses JSON
// Schema 2020-12, so it goes in as declared; only its top-level $schema and
// $id are dropped, its $defs hoisted to components of their own,
// <type>_<def>, and its local $refs rebased to where their targets now
// are). Around it are the body of a create or replace <type>_input (the
// data plus an optional id), the envelope <type>_resource, the page
// <type>_list, the shared schemas Meta, Revision, Problem, Change, Type and
// friends, and every route of SPEC §3 that a type has, under concrete paths
// (/api/posts/{id}) with operationIds such as createPosts and getPosts,
// tagged with the type name; then Strata's own routes. Error responses are
// application/problem+json.
//
// The document is meant to pass the tools clients run on it: Redocly's
// linter with its recommended rules, OpenAPI validators, and generators
// such as openapi-typescript, whose types must be usable under tsc
// --strict. TestThirdPartyTools runs them (testdata/toolcheck).
//
// Output is deterministic: equal types give equal bytes, so the document
// is golden-tested (go test ./server/openapi -update rewrites
// testdata/*.golden).
//
// # The docs page
//
// [DocsPage] is a Swagger UI page and [Asset] serves its files, which are
// embedded from assets/: swagger-ui-bundle.js and swagger-ui.css from the
// npm package swagger-ui-dist (version [SwaggerUIVersion], Apache-2.0; its
// LICENSE, NOTICE and swagger-ui-bundle.js.LICENSE.txt are kept beside
// them and served too), plus strata-docs.js, ours, which starts the UI.
// Nothing is fetched from the network at run time.
//
// To refresh the Swagger UI files, from the repository root, with VERSION
// the new swagger-ui-dist version (npm pack runs no install scripts):
//
//	d=$(mktemp -d) && (cd "$d" && npm pack swagger-ui-dist@VERSION) &&
//	tar -xzf "$d"/swagger-ui-dist-VERSION.tgz -C "$d" &&
//	for f in swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt; do
//		cp "$d/package/$f" server/openapi/assets/
//	done && rm -rf "$d"
//
// then set [SwaggerUIVersion] to VERSION and run go test ./server/openapi.
package openapi
