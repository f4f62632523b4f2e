package openapi

import "slices"

// This file holds the path items: the routes of SPEC §3 that each type
// has, and Strata's global routes.

// responses builds an operation's responses: the success responses in
// ok (status, response pairs), then the problem responses for the given
// statuses, then 429 and "default" for any other error.
func responses(ok object, problems ...string) object {
	out := append(object{}, ok...)
	// Every route is rate limited, the health checks too.
	statuses := append(slices.Clone(problems), "429")
	slices.Sort(statuses) // three digits each
	for _, status := range statuses {
		out.set(status, ref("responses", problemName(status)))
	}
	out.set("default", ref("responses", "Error"))
	return out
}

// problemName names the component response for an error status.
func problemName(status string) string {
	for _, p := range problemStatuses() {
		if p.status == status {
			return p.name
		}
	}
	panic("openapi: no problem response for status " + status)
}

func jsonContent(schema any) object {
	return obj("application/json", obj("schema", schema))
}

// response is a success response with an optional JSON body and headers.
func response(desc string, schema any, headers ...string) object {
	var h object
	for _, name := range headers {
		h.set(name, ref("headers", name))
	}
	var content any
	if schema != nil {
		content = jsonContent(schema)
	}
	return obj("description", desc, "headers", h, "content", content)
}

func jsonBody(desc string, schema any) object {
	return obj("description", optional(desc), "required", true, "content", jsonContent(schema))
}

func params(names ...string) []any {
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = ref("parameters", n)
	}
	return out
}

// writeProblems returns the statuses of the errors a write of one resource
// can meet.
func writeProblems() []string {
	return []string{"400", "401", "403", "404", "409", "410", "412", "413", "415", "422", "507"}
}

// typePaths returns the path items of one type, in route order.
func typePaths(n *typeNames) object {
	base := "/api/" + n.name
	item := base + "/{id}"
	envelope := schemaRef(n.resource)
	op := func(word, summary, desc string, kv ...any) object {
		return append(obj(
			"tags", strs(n.name),
			"summary", summary,
			"description", optional(desc),
			"operationId", n.ops[word],
		), obj(kv...)...)
	}
	idParam := params("id")

	return obj(
		base, obj(
			"get", op("list", "List "+n.name,
				"Filter, search, sort and page resources. Reflects every write acknowledged before the request "+
					"(read-your-writes) unless consistency=eventual.",
				"parameters", params("filter", "q", "sort", "limit", "cursor", "total", "facets", "stats", "include_deleted", "fields", "returns", "consistency", "expand", "as_of"),
				"responses", responses(obj("200", response("A page of resources.", schemaRef(n.list))), "400", "401", "403", "410", "503"),
			),
			"post", op("create", "Create a "+n.name+" resource", "",
				"requestBody", jsonBody("The data. A top-level \"id\" string names the new resource "+
					"(it is not stored in the data); without it a UUIDv7 is assigned.", schemaRef(n.input)),
				"responses", responses(obj("201", response("Created.", envelope, "ETag", "Location")),
					"400", "401", "403", "409", "413", "415", "422"),
			),
		),
		base+"/export", obj(
			"get", op("export", "Export "+n.name, "Administrators only. Every resource of the type, one a line, "+
				"with its meta and every stored revision (docs/operations.md). Streamed.",
				"responses", responses(obj("200", ndjsonResponse("The resources, one JSON document a line.")), "401", "403", "404"),
			),
		),
		base+"/import", obj(
			"post", op("import", "Import "+n.name, "Administrators only. Resources as export writes them; every line "+
				"is checked before any is written, and a bad one refuses the file naming its line. An id that exists "+
				"is 409 unless on_conflict is skip or replace.",
				"parameters", []any{onConflictParam()},
				"requestBody", ndjsonBody(),
				"responses", responses(obj("200", response("What was imported.", schemaRef("ImportResult"))),
					"400", "401", "403", "404", "409", "413", "415", "507"),
			),
		),
		base+"/count", obj(
			"get", op("count", "Count "+n.name, "Counts the resources that match, under the same filter as the list.",
				"parameters", params("filter", "q", "include_deleted", "consistency", "as_of"),
				"responses", responses(obj("200", response("The count.", schemaRef("Count"))), "400", "401", "403", "503"),
			),
		),
		item, obj(
			"parameters", idParam,
			"get", op("get", "Read a "+n.name+" resource", "",
				"parameters", params("revision", "fields", "returns", "include_deleted", "expand", "If-None-Match", "as_of"),
				"responses", responses(obj(
					"200", response("The resource.", envelope, "ETag"),
					"304", response("Not modified: the resource is still at the If-None-Match revision.", nil, "ETag"),
				), "400", "401", "403", "404", "410"),
			),
			"put", op("replace", "Replace a "+n.name+" resource's data",
				"Writes a new revision. Data equal to the current revision's writes nothing and answers with the same ETag.",
				"parameters", params("If-Match"),
				"requestBody", jsonBody("The new data. A top-level \"id\", if present, must be the resource's id.", schemaRef(n.input)),
				"responses", responses(obj("200", response("The resource at its new revision.", envelope, "ETag")), writeProblems()...),
			),
			"patch", op("patch", "Patch a "+n.name+" resource's data",
				"Applies a JSON Merge Patch (RFC 7386; also for plain application/json) or a JSON Patch (RFC 6902) "+
					"to the current data and writes a new revision.",
				"parameters", params("If-Match"),
				"requestBody", obj("required", true, "content", obj(
					"application/merge-patch+json", obj("schema", schemaRef("MergePatch")),
					"application/json-patch+json", obj("schema", schemaRef("JSONPatch")),
					"application/json", obj("schema", schemaRef("MergePatch")),
				)),
				"responses", responses(obj("200", response("The resource at its new revision.", envelope, "ETag")), writeProblems()...),
			),
			"delete", op("delete", "Delete a "+n.name+" resource",
				"Soft-deletes the resource, keeping its history, and applies the on_delete policy of resources "+
					"that reference it. With purge=true (admin), removes it and all its revisions.",
				"parameters", append(params("If-Match"), queryParam("purge", "Remove the resource and all its revisions.",
					obj("type", "boolean", "default", false))),
				"responses", responses(obj("204", response("Deleted.", nil)), "400", "401", "403", "404", "409", "410", "412"),
			),
		),
		item+"/restore", obj(
			"parameters", idParam,
			"post", op("restore", "Restore a deleted "+n.name+" resource", "Undoes a soft delete. Restoring a live resource changes nothing.",
				"parameters", params("If-Match"),
				"responses", responses(obj("200", response("The restored resource.", envelope, "ETag")),
					"400", "401", "403", "404", "409", "412"),
			),
		),
		item+"/revisions", obj(
			"parameters", idParam,
			"get", op("listRevisions", "List a "+n.name+" resource's revisions", "Newest first. With as_of, the revisions it had then.",
				"parameters", params("limit", "cursor", "as_of"),
				"responses", responses(obj("200", response("A page of revisions.", schemaRef("RevisionList"))),
					"400", "401", "403", "404"),
			),
		),
		item+"/revisions/{n}", obj(
			"parameters", params("id", "revisionNumber"),
			"get", op("getRevision", "Read one revision of a "+n.name+" resource",
				"410 when retention pruned revision n.",
				"parameters", params("expand"),
				"responses", responses(obj("200", response("The resource at revision n.", envelope, "ETag")),
					"400", "401", "403", "404", "410"),
			),
		),
		item+"/switch/{n}", obj(
			"parameters", params("id", "revisionNumber"),
			"post", op("switchRevision", "Switch a "+n.name+" resource to revision n",
				"Makes revision n current (a rollback) without writing a new revision; a later update's parent is n.",
				"parameters", params("If-Match"),
				"responses", responses(obj("200", response("The resource at revision n.", envelope, "ETag")),
					"400", "401", "403", "404", "409", "410", "412"),
			),
		),
		item+"/diff", obj(
			"parameters", idParam,
			"get", op("diff", "Diff two revisions of a "+n.name+" resource",
				"Returns the RFC 6902 JSON Patch that turns revision from into revision to.",
				"parameters", []any{
					queryParam("from", "The revision to start from; defaults to to's parent.", obj("type", "integer", "minimum", 1)),
					queryParam("to", "The revision to reach; defaults to the current one.", obj("type", "integer", "minimum", 1)),
				},
				"responses", responses(obj("200", response("The patch.", schemaRef("JSONPatch"))), "400", "401", "403", "404", "410"),
			),
		),
		item+"/referrers", obj(
			"parameters", idParam,
			"get", op("listReferrers", "List resources referencing a "+n.name+" resource", "",
				"responses", responses(obj("200", response("The referrers.", schemaRef("ReferrerList"))), "401", "403", "404"),
			),
		),
	)
}

// globalPaths returns the path items of Strata's own routes.
func globalPaths() object {
	tagged := func(tag, id, summary string, kv ...any) object {
		return append(obj("tags", strs(tag), "summary", summary, "operationId", id), obj(kv...)...)
	}
	typeBody := jsonBody("", schemaRef("Type"))
	return obj(
		"/api/types", obj(
			"get", tagged("Types", "listTypes", "List types",
				"responses", responses(obj("200", response("Every type.", schemaRef("TypeList"))), "401", "403"),
			),
			"post", tagged("Types", "createType", "Define a type",
				"requestBody", typeBody,
				"responses", responses(obj("201", response("The type as stored.", schemaRef("Type"))),
					"400", "401", "403", "409", "413", "415"),
			),
		),
		"/api/types/{type}", obj(
			"parameters", params("typeName"),
			"get", tagged("Types", "getType", "Read a type",
				"responses", responses(obj("200", response("The type.", schemaRef("Type"))), "401", "403", "404"),
			),
			"put", tagged("Types", "replaceType", "Change a type",
				"description", "A changed schema bumps schema_version; existing revisions keep theirs. "+
					"Unique and reference indexes are rebuilt, failing with 409 if existing data violates them.",
				"requestBody", typeBody,
				"responses", responses(obj("200", response("The type as stored.", schemaRef("Type"))),
					"400", "401", "403", "404", "409", "413", "415"),
			),
			"delete", tagged("Types", "deleteType", "Drop a type",
				"description", "Drops the type with all its resources and revisions; 409 while another type references it.",
				"responses", responses(obj("204", response("Dropped.", nil)), "401", "403", "404", "409"),
			),
		),
		"/api/changes", obj(
			"get", tagged("Changes", "listChanges", "Read the change log",
				"description", "Entries after sequence number since, oldest first. 410 when the entries after since "+
					"were trimmed (changes_retention); since 0 reads from the oldest entry retained.",
				"parameters", append([]any{
					queryParam("since", "Return entries after this sequence number.",
						obj("type", "integer", "format", "int64", "minimum", 0, "default", 0)),
					queryParam("types", "Comma-separated type names; all types when absent.", obj("type", "string")),
				}, params("limit")...),
				"responses", responses(obj("200", response("A page of changes.", schemaRef("ChangeList"))), "400", "401", "403", "410"),
			),
		),
		"/api/events", obj(
			"get", tagged("Changes", "streamEvents", "Follow the change log as Server-Sent Events",
				"description", "Each committed change the caller may read is one event: id = seq, event = action, data = "+
					"the change entry plus, for create, update, restore and switch, the resource. Resumes after "+
					"Last-Event-ID (or since); a position the log cannot serve gets one reset event (docs/realtime.md).",
				"parameters", []any{
					queryParam("since", "Start after this sequence number; the end of the log when absent.",
						obj("type", "integer", "format", "int64", "minimum", 0)),
					queryParam("types", "Comma-separated type names; every readable type when absent.", obj("type", "string")),
					obj("name", "Last-Event-ID", "in", "header", "description", "Resume after this sequence number; wins over since.",
						"schema", obj("type", "string")),
				},
				"responses", responses(obj("200", obj("description", "An event stream that stays open.",
					"content", obj("text/event-stream", obj("schema", obj("type", "string"))))), "400", "401", "403", "404"),
			),
		),
		"/api/batch", obj(
			"post", tagged("Batch", "batch", "Write in a batch",
				"description", "Up to 1000 writes, across types, all or nothing. If any request fails, nothing is "+
					"written and the answer is that request's problem, with index set to its position.",
				"requestBody", jsonBody("", schemaRef("BatchRequest")),
				"responses", responses(obj("200", response("Every request succeeded.", schemaRef("BatchResponse"))),
					writeProblems()...),
			),
		),
		"/api/export", obj(
			"get", tagged("Operations", "exportAll", "Export everything",
				"description", "Every type's definition, then every resource with its meta and every stored "+
					"revision, one JSON document a line (docs/operations.md). Streamed.",
				"responses", responses(obj("200", ndjsonResponse("Definitions, then resources, one JSON document a line.")), "401", "403"),
			),
		),
		"/api/import", obj(
			"post", tagged("Operations", "importAll", "Import an export",
				"description", "Definitions and resources as GET /api/export writes them; every line is checked "+
					"before any is written, and a bad one refuses the file naming its line. An id that exists is "+
					"409 unless on_conflict is skip or replace.",
				"parameters", []any{onConflictParam()},
				"requestBody", ndjsonBody(),
				"responses", responses(obj("200", response("What was imported.", schemaRef("ImportResult"))),
					"400", "401", "403", "409", "413", "415", "507"),
			),
		),
		"/api/backup", obj(
			"get", tagged("Operations", "backup", "Take an online backup",
				"description", "A consistent copy of the store as it stood when the request arrived, taken while "+
					"writes go on: a bolt file, which a data directory holds as strata.db. Its length is in "+
					"Content-Length. 501 when the storage backend cannot copy itself.",
				"responses", responses(obj("200", obj("description", "The store's copy.",
					"content", obj("application/octet-stream", obj("schema", obj("type", "string", "format", "binary"))))),
					"401", "403"),
			),
		),
		"/api/blobs", obj(
			"post", tagged("Blobs", "uploadBlob", "Upload a blob",
				"description", "The raw body, of any content type, up to blob_limit bytes (default 100 MiB), streamed to "+
					"disk. Blobs are addressed by the SHA-256 of their bytes: the same bytes twice are stored once. "+
					"Without a Content-Type the type is sniffed from the first bytes. A blob no revision references "+
					"is removed blob_grace (default 24 h) after its last upload.",
				"requestBody", obj("required", true, "content", obj("*/*", obj("schema", obj("type", "string", "contentMediaType", "application/octet-stream")))),
				"responses", responses(obj("201", response("Stored.", schemaRef("Blob"))), "400", "401", "413", "507"),
			),
		),
		"/api/blobs/{hash}", obj(
			"parameters", []any{obj("name", "hash", "in", "path", "required", true,
				"schema", obj("type", "string", "pattern", "^sha256:[0-9a-f]{64}$"))},
			"get", tagged("Blobs", "getBlob", "Download a blob",
				"description", "Readable by administrators, its uploaders, and whoever may read a resource one of whose "+
					"stored revisions references it in a \"format\": \"blob\" field; anyone else gets 404. "+
					"The ETag is the hash; If-None-Match answers 304. A single Range answers 206; several ranges get "+
					"the whole blob. The bytes are served with X-Content-Type-Options: nosniff and a sandboxing "+
					"Content-Security-Policy.",
				"parameters", []any{
					obj("name", "Range", "in", "header", "description", "One byte range, e.g. bytes=0-1023.", "schema", obj("type", "string")),
					obj("name", "If-None-Match", "in", "header", "description", "The ETag held; 304 when it matches.", "schema", obj("type", "string")),
				},
				"responses", responses(obj(
					"200", obj("description", "The blob, with its Content-Type.",
						"content", obj("*/*", obj("schema", obj("type", "string", "contentMediaType", "application/octet-stream")))),
					"206", obj("description", "The requested range; Content-Range says which.",
						"content", obj("*/*", obj("schema", obj("type", "string", "contentMediaType", "application/octet-stream")))),
					"304", obj("description", "If-None-Match matched: the client's copy is current."),
				), "401", "404", "416"),
			),
		),
		"/api/keys", obj(
			"get", tagged("Keys", "listKeys", "List API keys",
				"description", "Every key, without its token.",
				"responses", responses(obj("200", response("The keys.", schemaRef("KeyList"))), "401", "403"),
			),
			"post", tagged("Keys", "createKey", "Create an API key",
				"description", "The answer holds the token; it is shown only this once and stored hashed.",
				"requestBody", jsonBody("", schemaRef("KeyRequest")),
				"responses", responses(obj("201", response("The key with its token.", schemaRef("Key"))),
					"400", "401", "403", "415"),
			),
		),
		"/api/keys/{keyId}", obj(
			"parameters", []any{obj("name", "keyId", "in", "path", "required", true, "schema", obj("type", "string"))},
			"delete", tagged("Keys", "revokeKey", "Revoke an API key",
				"responses", responses(obj("204", response("Revoked; the token no longer works.", nil)), "401", "403", "404"),
			),
		),
		"/api/webhooks", obj(
			"get", tagged("Webhooks", "listWebhooks", "List webhooks",
				"description", "Every webhook, without its secret, with its position in the change log.",
				"responses", responses(obj("200", response("The webhooks.", schemaRef("WebhookList"))), "401", "403"),
			),
			"post", tagged("Webhooks", "createWebhook", "Create a webhook",
				"description", "Delivers the change-log entries committed from now on that it selects, as an "+
					"administrator sees them, as CloudEvents signed per Standard Webhooks (docs/realtime.md). "+
					"The answer holds the secret (whsec_…); it is shown only this once.",
				"requestBody", jsonBody("", schemaRef("WebhookRequest")),
				"responses", responses(obj("201", response("The webhook with its secret.", schemaRef("Webhook"))),
					"400", "401", "403", "415"),
			),
		),
		"/api/webhooks/{webhookId}", obj(
			"parameters", []any{webhookIDParam()},
			"get", tagged("Webhooks", "getWebhook", "Read a webhook",
				"responses", responses(obj("200", response("The webhook, without its secret.", schemaRef("Webhook"))),
					"401", "403", "404"),
			),
			"delete", tagged("Webhooks", "deleteWebhook", "Delete a webhook",
				"description", "Stops its deliveries and removes it with its delivery log.",
				"responses", responses(obj("204", response("Deleted.", nil)), "401", "403", "404"),
			),
		),
		"/api/webhooks/{webhookId}/deliveries", obj(
			"parameters", []any{webhookIDParam()},
			"get", tagged("Webhooks", "listWebhookDeliveries", "Read a webhook's delivery log",
				"description", "Its most recent delivery attempts, newest first; the last 1000 are kept.",
				"parameters", []any{queryParam("limit", "How many attempts to return.",
					obj("type", "integer", "minimum", 1, "maximum", 1000, "default", 100))},
				"responses", responses(obj("200", response("The attempts.", schemaRef("WebhookDeliveryList"))),
					"400", "401", "403", "404"),
			),
		),
		"/api/webhooks/{webhookId}/resume", obj(
			"parameters", []any{webhookIDParam()},
			"post", tagged("Webhooks", "resumeWebhook", "Resume a webhook",
				"description", "Re-enables a webhook disabled after failing for too long: it continues from the "+
					"first entry it did not deliver. On an active webhook, retries at once.",
				"responses", responses(obj("200", response("The webhook.", schemaRef("Webhook"))), "401", "403", "404"),
			),
		),
		"/api/hooks", obj(
			"get", tagged("Hooks", "listHooks", "List hook modules",
				"description", "Every registered WebAssembly hook module, without its code.",
				"responses", responses(obj("200", response("The modules.", schemaRef("HookModuleList"))), "401", "403", "404"),
			),
		),
		"/api/hooks/{name}", obj(
			"parameters", params("hookName"),
			"get", tagged("Hooks", "getHook", "Read a hook module",
				"responses", responses(obj("200", response("The module, without its code.", schemaRef("HookModule"))),
					"401", "403", "404"),
			),
			"put", tagged("Hooks", "registerHook", "Register or replace a hook module",
				"description", "The module is compiled and checked against the hook ABI before it is accepted; "+
					"calls in flight finish on the module they started with. Types bind modules by name.",
				"requestBody", obj("description", "The compiled module.", "required", true, "content", obj(
					"application/wasm", obj("schema", obj("type", "string", "format", "binary", "contentMediaType", "application/wasm")),
				)),
				"responses", responses(obj(
					"200", response("Replaced.", schemaRef("HookModule")),
					"201", response("Registered.", schemaRef("HookModule")),
				), "400", "401", "403", "404", "413", "415", "507"),
			),
			"delete", tagged("Hooks", "deleteHook", "Remove a hook module",
				"description", "A module that types bind is not removed (409 naming the types) unless force=true; "+
					"writes to those types then fail with hook_failed until they bind another.",
				"parameters", []any{queryParam("force", "Remove the module even though types bind it.",
					obj("type", "boolean", "default", false))},
				"responses", responses(obj("204", response("Removed.", nil)), "400", "401", "403", "404", "409", "507"),
			),
		),
		"/api/hooks/{name}/replay", obj(
			"parameters", params("hookName"),
			"post", tagged("Hooks", "replayHook", "Replay a hook module over a type's latest writes",
				"description", "Runs a module over the type's last writes at a stage, as the stage would have run it "+
					"(each write rebuilt from the revision it made), and reports how many it would have allowed, "+
					"rejected or failed on, with up to five samples of each. Nothing is written. The body is a "+
					"candidate module, run under a temporary name and removed afterwards, so the module registered "+
					"as name is never replaced; an empty body replays the registered module. Either runs as name, "+
					"with the config and limits of its binding to the type. The replay stops shortly before the "+
					"route's time limit (hook_register_timeout) and reports what it checked, truncated.",
				"parameters", []any{
					obj("name", "type", "in", "query", "required", true, "description", "The type whose writes are replayed.",
						"schema", obj("type", "string")),
					queryParam("stage", "The stage the module runs at; the writes replayed are the creates and "+
						"updates (validate), the creates (before_create), the updates (before_update) or the "+
						"soft deletes (before_delete).",
						obj("type", "string", "enum", strs("validate", "before_create", "before_update", "before_delete"), "default", "validate")),
					queryParam("last", "How many of the latest writes to replay.",
						obj("type", "integer", "minimum", 1, "maximum", 10000, "default", 100)),
				},
				"requestBody", obj("description", "A candidate module; empty for the registered one.", "required", false, "content", obj(
					"application/wasm", obj("schema", obj("type", "string", "format", "binary", "contentMediaType", "application/wasm")),
				)),
				"responses", responses(obj("200", response("What the module would have decided.", schemaRef("HookReplay"))),
					"400", "401", "403", "404", "413", "415"),
			),
		),
		"/openapi.json", obj(
			"get", tagged("Docs", "openapi", "This document",
				"description", "The OpenAPI 3.1 document of the live types, as far as the caller may see them.",
				"responses", responses(obj("200", response("The document.", obj("type", "object")))),
			),
		),
		"/docs", obj(
			"get", tagged("Docs", "docs", "Interactive API documentation",
				"description", "A Swagger UI page over /openapi.json.",
				"responses", responses(obj("200", obj("description", "The page.",
					"content", obj("text/html", obj("schema", obj("type", "string")))))),
			),
		),
		"/docs/assets/{name}", obj(
			"parameters", []any{obj("name", "name", "in", "path", "required", true, "description", "The file.",
				"schema", obj("type", "string"))},
			"get", tagged("Docs", "docsAsset", "A file of the documentation page",
				"responses", responses(obj("200", obj("description", "The file: script, style sheet or license text.",
					"content", obj("*/*", obj("schema", obj("type", "string"))))), "404"),
			),
		),
		"/_", obj(
			"get", tagged("Docs", "adminUI", "The admin UI",
				"description", "The admin UI's page: sign in with an API key, then manage types, resources, "+
					"revisions, hook modules and keys. Served at /_/ as well; it routes by the URL's fragment (/_/#/types).",
				"security", []any{},
				"responses", responses(obj("200", obj("description", "The page.",
					"content", obj("text/html", obj("schema", obj("type", "string")))))),
			),
		),
		"/_/{file}", obj(
			"parameters", []any{obj("name", "file", "in", "path", "required", true, "description", "The file.",
				"schema", obj("type", "string"))},
			"get", tagged("Docs", "adminUIFile", "A file of the admin UI",
				"description", "A script or style sheet of the admin UI; any other name gets the UI's page.",
				"security", []any{},
				"responses", responses(obj("200", obj("description", "The file, gzipped when the client accepts it.",
					"content", obj("*/*", obj("schema", obj("type", "string")))))),
			),
		),
		"/metrics", obj(
			"get", tagged("Health", "metrics", "Prometheus metrics",
				"description", "The Prometheus text format: HTTP requests by route template, hook calls, the change log, "+
					"index and consumer lag, storage and Go runtime metrics. For administrators and the metrics_token "+
					"(a bearer token); absent when metrics are turned off.",
				"responses", responses(obj("200", obj("description", "The metrics.",
					"content", obj("text/plain", obj("schema", obj("type", "string"))))), "401", "403"),
			),
		),
		"/healthz", obj(
			"get", tagged("Health", "healthz", "Liveness",
				"security", []any{},
				"responses", responses(obj("200", response("The process is up.", obj(
					"type", "object",
					"required", strs("status"),
					"properties", obj("status", obj("const", "ok")),
				)))),
			),
		),
		"/readyz", obj(
			"get", tagged("Health", "readyz", "Readiness",
				"security", []any{},
				"responses", responses(obj(
					"200", response("Ready to serve.", obj(
						"type", "object",
						"required", strs("status", "seq"),
						"properties", obj(
							"status", obj("const", "ready"),
							"seq", obj("type", "integer", "format", "int64", "minimum", 0,
								"description", "The last sequence number of the change log."),
							"changes", obj("type", "object",
								"description", "Administrators only: the change log's positions, what holds back its trimming, and each consumer's position and lag."),
						),
					)),
					"503", response("Not ready: the server is draining before it stops.", obj(
						"type", "object",
						"required", strs("status"),
						"properties", obj("status", obj("const", "draining")),
					)),
				)),
			),
		),
	)
}

func webhookIDParam() object {
	return obj("name", "webhookId", "in", "path", "required", true, "schema", obj("type", "string"))
}

// ndjsonResponse is a streamed NDJSON answer.
func ndjsonResponse(desc string) object {
	return obj("description", desc, "content", obj("application/x-ndjson", obj("schema", obj("type", "string"))))
}

// ndjsonBody is an import's body.
func ndjsonBody() object {
	return obj("description", "An export: one JSON document a line.", "required", true,
		"content", obj("application/x-ndjson", obj("schema", obj("type", "string"))))
}

// onConflictParam is the on_conflict parameter of the imports.
func onConflictParam() object {
	return queryParam("on_conflict", "What an id that exists gets; refused with 409 when absent.",
		obj("type", "string", "enum", strs("skip", "replace")))
}
