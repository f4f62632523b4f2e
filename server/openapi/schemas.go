package openapi

// This file holds the components shared by every document: schemas of
// Strata's own objects (SPEC §1, §2, §3), parameters, headers and
// responses.

func ref(kind, name string) object { return obj("$ref", "#/components/"+kind+"/"+name) }

func schemaRef(name string) object { return ref("schemas", name) }

// str, integer and boolean are schema shorthands; desc may be "".
func str(desc string) object { return obj("type", "string", "description", optional(desc)) }

func integer(desc string) object { return obj("type", "integer", "description", optional(desc)) }

func boolean(desc string) object { return obj("type", "boolean", "description", optional(desc)) }

func dateTime(desc string) object {
	return obj("type", "string", "format", "date-time", "description", optional(desc))
}

func arrayOf(items any) object { return obj("type", "array", "items", items) }

// optional returns nil for "", so obj leaves the member out.
func optional(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// strs returns list as a JSON array.
func strs(list ...string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}

// sharedSchemas returns the schemas that do not depend on the types.
func sharedSchemas() object {
	hookStages := strs("validate", "before_create", "before_update", "before_delete",
		"after_create", "after_update", "after_delete", "job")
	return obj(
		"Meta", obj(
			"type", "object",
			"description", "A resource's mutable bookkeeping.",
			"required", strs("current_revision", "revision_count", "created_at", "updated_at", "deleted", "schema_version"),
			"properties", obj(
				"current_revision", integer("The revision the resource shows."),
				"revision_count", integer("How many revisions the resource has had."),
				"created_at", dateTime("RFC 3339 UTC with milliseconds."),
				"created_by", str("The principal that created the resource."),
				"updated_at", dateTime(""),
				"updated_by", str(""),
				"deleted", boolean("Whether the resource is soft-deleted."),
				"schema_version", integer("The type's schema version the current revision was written under."),
			),
		),
		"Revision", obj(
			"type", "object",
			"description", "One immutable revision, without its data.",
			"required", strs("number", "parent", "created_at", "data_hash", "action", "hooks"),
			"properties", obj(
				"number", obj("type", "integer", "minimum", 1),
				"parent", obj("type", strs("integer", "null"), "description",
					"The revision this one was written over; null for the first."),
				"created_at", dateTime(""),
				"created_by", str(""),
				"data_hash", obj("type", "string", "pattern", "^sha256:[0-9a-f]{64}$"),
				"action", str("The write that made the revision."),
				"hooks", obj(
					"type", "array",
					"description", "The hook modules that approved the write; empty when none ran.",
					"items", obj(
						"type", "object",
						"required", strs("name", "stage", "sha256"),
						"properties", obj(
							"name", str("The hook module."),
							"stage", obj("type", "string", "enum", hookStages),
							"sha256", str("The SHA-256 of the module's code."),
						),
					),
				),
				"schema_version", integer(""),
			),
		),
		"RevisionList", obj(
			"type", "object",
			"required", strs("items", "next_cursor"),
			"properties", obj(
				"items", obj("type", "array", "description", "Newest first.", "items", schemaRef("Revision")),
				"next_cursor", nextCursor(),
			),
		),
		"Problem", obj(
			"type", "object",
			"description", "An RFC 9457 problem detail.",
			"required", strs("type", "title", "status"),
			"properties", obj(
				"type", obj("type", "string", "format", "uri",
					"description", "urn:strata:problem:<code>, with code one of "+
						"bad_request, unauthorized, forbidden, not_found, gone, conflict, precondition_failed, "+
						"too_large, unsupported_media_type, validation, rate_limited, hook_failed, insufficient_storage, "+
						"timeout, not_implemented, internal.",
					"examples", strs("urn:strata:problem:validation")),
				"title", str(""),
				"status", obj("type", "integer", "minimum", 400, "maximum", 599),
				"detail", str(""),
				"errors", arrayOf(obj(
					"type", "object",
					"required", strs("path", "message"),
					"properties", obj(
						"path", str("A JSON Pointer into the document (\"/email\"); \"\" is the whole document."),
						"message", str(""),
						"source", str("The rule that found it: schema, unique, reference, or a hook's name."),
					),
				)),
				"index", integer("In a batch, the index of the request that failed."),
			),
		),
		"Change", obj(
			"type", "object",
			"description", "One entry of the change log.",
			"required", strs("seq", "type", "action", "revision", "at"),
			"properties", obj(
				"seq", obj("type", "integer", "format", "int64", "minimum", 1,
					"description", "Global, gap-free sequence number."),
				"type", str(""),
				"id", str("The resource; absent for type changes."),
				"action", obj("type", "string", "enum",
					strs("create", "update", "delete", "restore", "purge", "switch", "type", "event")),
				"revision", integer("The current revision after the change (the schema version for type changes; 0 for purges and drops)."),
				"at", dateTime(""),
				"by", str(""),
				"event", obj("type", "object",
					"description", "For action event: the domain event a hook published with the write of the resource.",
					"required", strs("type", "data"),
					"properties", obj(
						"type", obj("type", "string", "minLength", 1, "maxLength", 128),
						"data", obj("description", "Any JSON value."),
					)),
			),
		),
		"FacetValue", obj(
			"type", "object",
			"description", "One value of a facet and how many matching resources have it (an array counts once per resource).",
			"required", strs("value", "count"),
			"properties", obj(
				"value", obj("type", strs("string", "number", "boolean"),
					"description", "The value; a date-time is its instant in RFC 3339, UTC."),
				"count", obj("type", "integer", "minimum", 1),
			),
		),
		"FieldStats", obj(
			"type", "object",
			"description", "The numbers of a field over every match: min, max, sum and avg are null when count is 0 (sum also when beyond a double).",
			"required", strs("count", "min", "max", "sum", "avg"),
			"properties", obj(
				"count", obj("type", "integer", "minimum", 0, "description", "Matching resources with a number there."),
				"min", obj("type", strs("number", "null")),
				"max", obj("type", strs("number", "null")),
				"sum", obj("type", strs("number", "null")),
				"avg", obj("type", strs("number", "null")),
			),
		),
		"ImportResult", obj(
			"type", "object",
			"required", strs("types", "resources", "revisions", "skipped", "replaced"),
			"properties", obj(
				"types", obj("type", "integer", "description", "Type definitions created or changed."),
				"resources", obj("type", "integer", "description", "Resources written."),
				"revisions", obj("type", "integer", "description", "Revisions written."),
				"skipped", obj("type", "integer", "description", "Resources left as they were (on_conflict=skip)."),
				"replaced", obj("type", "integer", "description", "Resources replaced (on_conflict=replace)."),
			),
		),
		"ChangeList", obj(
			"type", "object",
			"required", strs("items", "next_since"),
			"properties", obj(
				"items", arrayOf(schemaRef("Change")),
				"next_since", obj("type", "integer", "format", "int64",
					"description", "The since to pass for the next page."),
			),
		),
		"Type", obj(
			"type", "object",
			"description", "A resource type definition. Only name and schema are required.",
			"required", strs("name", "schema"),
			"properties", obj(
				"name", obj("type", "string", "pattern", "^[a-z][a-z0-9_]{0,62}$"),
				"schema", obj("type", strs("object", "boolean"),
					"description", "A JSON Schema (draft 2020-12) for the data of the type's resources."),
				"search", obj("type", "array", "items", obj("type", "string"),
					"description", "Fields analysed for full-text search."),
				"unique", obj("type", "array", "items", obj("type", "string"),
					"description", "Top-level fields whose non-null values are distinct among live resources."),
				"references", obj(
					"type", "object",
					"description", "Top-level fields holding the id of a resource of another type.",
					"additionalProperties", obj(
						"type", "object",
						"required", strs("type"),
						"properties", obj(
							"type", str("The referenced type."),
							"on_delete", obj("type", "string", "enum", strs("restrict", "set_null", "cascade"),
								"default", "restrict"),
						),
					),
				),
				"hooks", arrayOf(obj(
					"type", "object",
					"required", strs("stage", "module"),
					"properties", obj(
						"stage", obj("type", "string", "enum", hookStages),
						"module", str(""),
						"timeout_ms", obj("type", "integer", "minimum", 0),
						"memory_mb", obj("type", "integer", "minimum", 0),
						"fuel", obj("type", "integer", "minimum", 0,
							"description", "Work budget of each call, in units of one function entry or one loop iteration; 0 or absent: none. Running out fails the write with 500 hook_failed (fuel)."),
						"failure_policy", obj("type", "string", "enum", strs("fail", "ignore")),
						"config", obj("description", "Passed to the hook as is."),
					),
				)),
				"permissions", obj(
					"type", "object",
					"description", "Who may do what: public, authenticated, owner or role:NAME. No permissions means admins only.",
					"propertyNames", obj("enum", strs("read", "create", "update", "delete", "admin")),
					"additionalProperties", arrayOf(obj("type", "string")),
				),
				"retention", obj(
					"type", "object",
					"properties", obj(
						"keep_last", obj("type", "integer", "minimum", 0,
							"description", "Revisions kept per resource; 0 keeps every revision."),
					),
				),
				"schema_version", obj("type", "integer", "readOnly", true),
				"created_at", obj("type", "string", "format", "date-time", "readOnly", true),
				"updated_at", obj("type", "string", "format", "date-time", "readOnly", true),
			),
		),
		"TypeList", obj(
			"type", "object",
			"required", strs("items"),
			"properties", obj("items", arrayOf(schemaRef("Type"))),
		),
		"KeyRequest", obj(
			"type", "object",
			"required", strs("name"),
			"additionalProperties", false,
			"properties", obj(
				"name", obj("type", "string", "minLength", 1, "maxLength", 100),
				"roles", arrayOf(obj("type", "string", "pattern", "^[A-Za-z0-9_.:-]{1,64}$")),
			),
		),
		"Blob", obj(
			"type", "object",
			"description", "A stored blob. A schema property {\"type\": \"string\", \"format\": \"blob\"} holds its hash; "+
				"writing a hash that is not stored, or that the writer may not read, is 409.",
			"required", strs("hash", "size", "content_type"),
			"properties", obj(
				"hash", obj("type", "string", "pattern", "^sha256:[0-9a-f]{64}$"),
				"size", obj("type", "integer", "format", "int64", "minimum", 0),
				"content_type", obj("type", "string"),
			),
		),
		"Key", obj(
			"type", "object",
			"description", "An API key. Requests made with it act as the principal key:<id> with its roles.",
			"required", strs("id", "name", "roles", "created_at"),
			"properties", obj(
				"id", obj("type", "string"),
				"name", obj("type", "string"),
				"roles", arrayOf(obj("type", "string")),
				"created_at", obj("type", "string", "format", "date-time"),
				"created_by", obj("type", "string"),
				"token", obj("type", "string", "description", "The bearer token; present only in the answer to its creation."),
			),
		),
		"KeyList", obj(
			"type", "object",
			"required", strs("items"),
			"properties", obj("items", arrayOf(schemaRef("Key"))),
		),
		"WebhookRequest", obj(
			"type", "object",
			"required", strs("url"),
			"additionalProperties", false,
			"properties", obj(
				"url", obj("type", "string", "format", "uri", "maxLength", 2048,
					"description", "An http or https URL. Unless webhook_allow_private, deliveries to loopback, "+
						"private, link-local and other non-public addresses are refused."),
				"types", arrayOf(obj("type", "string")),
				"actions", arrayOf(obj("type", "string", "enum", strs("create", "update", "delete", "restore",
					"purge", "switch", "type", "event"))),
			),
		),
		"Webhook", obj(
			"type", "object",
			"description", "A webhook: where the change-log entries it selects are delivered.",
			"required", strs("id", "url", "types", "actions", "state", "created_at", "seq", "lag"),
			"properties", obj(
				"id", obj("type", "string"),
				"url", obj("type", "string"),
				"types", arrayOf(obj("type", "string")),
				"actions", arrayOf(obj("type", "string")),
				"state", obj("type", "string", "enum", strs("active", "disabled")),
				"created_at", obj("type", "string", "format", "date-time"),
				"created_by", obj("type", "string"),
				"secret", obj("type", "string", "description", "The signing secret (whsec_…); present only in the answer to its creation."),
				"failing_since", obj("type", "string", "format", "date-time", "description", "When the current run of failures began."),
				"disabled_at", obj("type", "string", "format", "date-time"),
				"seq", obj("type", "integer", "format", "int64", "minimum", 0, "description", "The change-log position delivered up to."),
				"lag", obj("type", "integer", "format", "int64", "minimum", 0, "description", "Committed entries past seq."),
			),
		),
		"WebhookList", obj(
			"type", "object",
			"required", strs("items"),
			"properties", obj("items", arrayOf(schemaRef("Webhook"))),
		),
		"WebhookDelivery", obj(
			"type", "object",
			"description", "One delivery attempt.",
			"required", strs("attempt", "seq", "message_id", "at", "duration_ms", "ok"),
			"properties", obj(
				"attempt", obj("type", "integer", "format", "int64", "minimum", 1),
				"seq", obj("type", "integer", "format", "int64", "minimum", 0),
				"message_id", obj("type", "string", "description", "The webhook-id header, the same for every attempt of an entry."),
				"at", obj("type", "string", "format", "date-time"),
				"duration_ms", obj("type", "number", "minimum", 0),
				"status", obj("type", "integer", "description", "The receiver's HTTP status, absent when there was none."),
				"error", obj("type", "string", "description", "Why the attempt failed; absent when it succeeded."),
				"ok", obj("type", "boolean"),
			),
		),
		"WebhookDeliveryList", obj(
			"type", "object",
			"required", strs("items"),
			"properties", obj("items", arrayOf(schemaRef("WebhookDelivery"))),
		),
		"HookModule", obj(
			"type", "object",
			"description", "A registered WebAssembly hook module.",
			"required", strs("name", "sha256", "size", "registered_at"),
			"properties", obj(
				"name", obj("type", "string", "pattern", hookNamePattern),
				"sha256", obj("type", "string", "description", "The SHA-256 of the module's code, in hex."),
				"size", obj("type", "integer", "minimum", 0, "description", "The module's size in bytes."),
				"registered_at", obj("type", "string", "format", "date-time"),
				"stats", obj(
					"type", "object",
					"description", "The module's calls by the server that answers (each node counts its own), "+
						"since it started or since the module was last registered. Listed modules have it; "+
						"the answer to a registration does not.",
					"required", strs("calls", "failures"),
					"properties", obj(
						"calls", obj("type", "integer", "minimum", 0),
						"failures", obj("type", "integer", "minimum", 0,
							"description", "Calls that crashed, timed out or broke the ABI; a rejection is not a failure."),
						"p50_ms", obj("type", "number", "minimum", 0, "description", "The median time of the last 1,024 calls, in ms; absent before the first."),
						"p99_ms", obj("type", "number", "minimum", 0, "description", "The 99th percentile time of the last 1,024 calls, in ms; absent before the first."),
					),
				),
			),
		),
		"HookReplay", obj(
			"type", "object",
			"description", "What a hook module would have decided over a type's latest writes.",
			"required", strs("hook", "sha256", "type", "stage", "checked", "allowed", "rejected", "failed", "samples", "truncated"),
			"properties", obj(
				"hook", obj("type", "string", "pattern", hookNamePattern, "description", "The name the module ran as."),
				"sha256", obj("type", "string", "description", "The SHA-256 of the module's code, in hex."),
				"type", obj("type", "string"),
				"stage", obj("type", "string", "enum", strs("validate", "before_create", "before_update", "before_delete")),
				"checked", obj("type", "integer", "minimum", 0, "description", "The writes replayed: allowed + rejected + failed."),
				"allowed", obj("type", "integer", "minimum", 0),
				"rejected", obj("type", "integer", "minimum", 0),
				"failed", obj("type", "integer", "minimum", 0),
				"samples", arrayOf(obj(
					"type", "object",
					"description", "The outcome of one write, newest first; up to five per outcome.",
					"required", strs("id", "revision", "outcome"),
					"properties", obj(
						"id", obj("type", "string"),
						"revision", obj("type", "integer", "minimum", 1),
						"outcome", obj("type", "string", "enum", strs("allowed", "rejected", "failed")),
						"errors", arrayOf(obj(
							"type", "object",
							"description", "A field error of the rejection, or why the hook failed.",
							"required", strs("path", "message"),
							"properties", obj(
								"path", obj("type", "string"),
								"message", obj("type", "string"),
								"source", obj("type", "string"),
							),
						)),
					),
				)),
				"truncated", obj("type", "boolean", "description", "The replay stopped at its time limit: the counts cover the newest writes only."),
			),
		),
		"HookModuleList", obj(
			"type", "object",
			"required", strs("items"),
			"properties", obj("items", arrayOf(schemaRef("HookModule"))),
		),
		"Count", obj(
			"type", "object",
			"required", strs("count"),
			"properties", obj("count", obj("type", "integer", "minimum", 0)),
		),
		"Referrer", obj(
			"type", "object",
			"description", "A resource whose reference field points at another one.",
			"required", strs("type", "id", "field"),
			"properties", obj("type", str(""), "id", str(""), "field", str("")),
		),
		"ReferrerList", obj(
			"type", "object",
			"required", strs("items"),
			"properties", obj("items", arrayOf(schemaRef("Referrer"))),
		),
		"JSONPatch", obj(
			"type", "array",
			"description", "An RFC 6902 JSON Patch.",
			"items", obj(
				"type", "object",
				"required", strs("op", "path"),
				"properties", obj(
					"op", obj("type", "string", "enum", strs("add", "remove", "replace", "move", "copy", "test")),
					"path", str("A JSON Pointer."),
					"from", str("A JSON Pointer (move, copy)."),
					"value", obj("description", "The value (add, replace, test)."),
				),
			),
		),
		"MergePatch", obj(
			"type", "object",
			"description", "An RFC 7386 JSON Merge Patch: members replace those of the data; null removes one.",
		),
		"BatchRequest", obj(
			"type", "object",
			"required", strs("requests"),
			"properties", obj(
				"requests", obj(
					"type", "array",
					"minItems", 1,
					"maxItems", 1000,
					"items", obj(
						"type", "object",
						"required", strs("method", "url"),
						"properties", obj(
							"method", obj("type", "string", "enum", strs("POST", "PUT", "PATCH", "DELETE")),
							"url", obj("type", "string", "examples", strs("/api/posts")),
							"body", obj("description", "The request body, as JSON."),
							"headers", obj("type", "object", "additionalProperties", obj("type", "string"),
								"examples", []any{obj("If-Match", `"0193e0a4:2"`)}),
						),
					),
				),
			),
		),
		"BatchResponse", obj(
			"type", "object",
			"required", strs("responses"),
			"properties", obj(
				"responses", arrayOf(obj(
					"type", "object",
					"required", strs("status"),
					"properties", obj(
						"status", integer(""),
						"body", obj("description", "The response body, as JSON; absent for 204."),
					),
				)),
			),
		),
	)
}

func nextCursor() object {
	return obj("type", strs("string", "null"), "description", "Opaque; pass as cursor for the next page. null on the last page.")
}

// resourceSchema is the envelope of one resource of a type (SPEC §2).
func resourceSchema(n *typeNames) object {
	props := obj(
		"id", str(""),
		"type", obj("const", n.name),
		"data", schemaRef(n.schema),
		"meta", schemaRef("Meta"),
		"revision", schemaRef("Revision"),
	)
	if len(n.expand) > 0 {
		targets := object{}
		for _, e := range n.expand {
			targets = append(targets, member{e[0], schemaRef(e[1])})
		}
		props = append(props, member{"expand", obj(
			"type", "object",
			"description", "With expand=: the resources the reference fields point at, by field, "+
				"those the reader may read only. Absent when none is embedded.",
			"properties", targets,
		)})
	}
	return obj(
		"type", "object",
		"description", "A resource of type "+n.name+" at one revision.",
		"required", strs("id", "type", "data", "meta", "revision"),
		"properties", props,
	)
}

// listSchema is one page of resources of a type.
func listSchema(n *typeNames) object {
	return obj(
		"type", "object",
		"required", strs("items", "next_cursor"),
		"properties", obj(
			"items", arrayOf(schemaRef(n.resource)),
			"next_cursor", nextCursor(),
			"total", obj("type", "integer", "minimum", 0, "description", "Present when total=true was asked for."),
			"facets", obj("type", "object", "description", "Present when facets was asked for: per field, its most frequent values "+
				"among every match (not only the page), by count descending then value ascending.",
				"additionalProperties", arrayOf(schemaRef("FacetValue"))),
			"stats", obj("type", "object", "description", "Present when stats was asked for: per field, its numbers over every match.",
				"additionalProperties", schemaRef("FieldStats")),
		),
	)
}

func queryParam(name, desc string, schema object) object {
	return obj("name", name, "in", "query", "description", desc, "schema", schema)
}

// sharedParameters returns components.parameters.
func sharedParameters() object {
	return obj(
		"id", obj("name", "id", "in", "path", "required", true, "description", "The resource id.",
			"schema", obj("type", "string", "pattern", idPattern)),
		"hookName", obj("name", "name", "in", "path", "required", true, "description", "The hook module's name.",
			"schema", obj("type", "string", "pattern", hookNamePattern)),
		"revisionNumber", obj("name", "n", "in", "path", "required", true, "description", "A revision number.",
			"schema", obj("type", "integer", "minimum", 1)),
		"typeName", obj("name", "type", "in", "path", "required", true, "description", "The type name.",
			"schema", obj("type", "string", "pattern", "^[a-z][a-z0-9_]{0,62}$")),
		"If-Match", obj("name", "If-Match", "in", "header",
			"description", "Write only if the resource is at this revision: an ETag, \"<id>:<revision>\". A stale one is 412 and writes nothing.",
			"schema", obj("type", "string")),
		"If-None-Match", obj("name", "If-None-Match", "in", "header",
			"description", "An ETag; 304 if the resource is still at that revision.",
			"schema", obj("type", "string")),
		"revision", queryParam("revision", "Read this revision instead of the current one.", obj("type", "integer", "minimum", 1)),
		"limit", queryParam("limit", "Page size.", obj("type", "integer", "minimum", 1, "maximum", 1000, "default", 20)),
		"cursor", queryParam("cursor", "next_cursor of the previous page.", obj("type", "string")),
		"include_deleted", queryParam("include_deleted", "Include soft-deleted resources.", obj("type", "boolean", "default", false)),
		"fields", queryParam("fields", "Project data to these comma-separated (dotted) fields, e.g. title,author.name.", obj("type", "string")),
		"expand", queryParam("expand", "Embed the resources these comma-separated reference fields point at, "+
			"under expand in each envelope; dotted paths (author.org) expand inside the embedded ones, at most 3 fields deep, "+
			"at most 10 paths. A target the reader may not read, soft-deleted or gone is left out, as for a null reference.",
			obj("type", "string")),
		"returns", queryParam("returns", "data returns the bare data object (items of bare data objects for a list) instead of envelopes.",
			obj("type", "string", "enum", strs("data"))),
		"sort", queryParam("sort", "Comma-separated fields, - for descending, e.g. -created_at,name. Ties are broken by id. Defaults to relevance when q is given.", obj("type", "string")),
		"total", queryParam("total", "Also count every match, in total.", obj("type", "boolean", "default", false)),
		"facets", queryParam("facets", "Comma-separated fields (at most 20) whose most frequent values among every match to count, "+
			"each with an optional :size (1 to 100, default 10), e.g. status,tags:20. Strings, numbers, booleans, date-times "+
			"and arrays of them; not long text, which keeps no exact value.", obj("type", "string")),
		"stats", queryParam("stats", "Comma-separated number fields (at most 20) to summarise over every match: count, min, max, sum, avg, e.g. views,price.",
			obj("type", "string")),
		"filter", queryParam("filter",
			"A filter expression over data fields (dotted paths) and id, created_at, updated_at, created_by, updated_by: "+
				"= != > >= < <= ~ (contains) !~ ?= (any element equals), && || and parentheses, e.g. views > 10 && author = \"ada\".",
			obj("type", "string")),
		"q", queryParam("q", "A full-text query over the type's search fields, relevance ranked.", obj("type", "string")),
		"as_of", queryParam("as_of",
			"Answer as the data stood at this instant (RFC 3339; kept to the millisecond): the revision then current, "+
				"resources created later, deleted then or purged since absent. Later than now is 400; with q or revision, 400. "+
				"410 when retention pruned a revision it needs. Cursors are bound to it (docs/time-travel.md).",
			obj("type", "string", "format", "date-time")),
		"consistency", queryParam("consistency", "eventual skips waiting for the index to catch up with acknowledged writes.",
			obj("type", "string", "enum", strs("eventual"))),
	)
}

// sharedHeaders returns components.headers.
func sharedHeaders() object {
	return obj(
		"ETag", obj("description", "The resource and revision, \"<id>:<revision>\" (strong).",
			"schema", obj("type", "string")),
		"Location", obj("description", "The URL of the new resource.",
			"schema", obj("type", "string", "format", "uri-reference")),
		"Retry-After", obj("description", "Seconds to wait before trying again.",
			"schema", obj("type", "integer", "minimum", 0)),
	)
}

// problemStatus is an error response in components.responses.
type problemStatus struct{ status, name, description string }

// problemStatuses returns the error responses in components.responses, in
// the order they are listed.
func problemStatuses() []problemStatus {
	return []problemStatus{
		{"400", "BadRequest", "Malformed JSON, or a bad parameter, filter, sort, cursor or patch document."},
		{"401", "Unauthorized", "No or bad credentials."},
		{"403", "Forbidden", "Not allowed."},
		{"404", "NotFound", "Unknown type, resource or revision."},
		{"409", "Conflict", "A unique value is taken, or a reference is broken or restricted; errors[].path names the field."},
		{"410", "Gone", "The resource is soft-deleted, or the revision was pruned by the type's retention."},
		{"412", "PreconditionFailed", "If-Match names a revision that is not current; nothing was written."},
		{"413", "TooLarge", "The body is over the limit."},
		{"415", "UnsupportedMediaType", "Wrong Content-Type."},
		{"416", "RangeNotSatisfiable", "The Range starts past the end of the blob; Content-Range says its size."},
		{"422", "ValidationFailed", "The data violates the schema, or a hook rejected it; errors[].source is schema or the hook's name."},
		{"429", "RateLimited", "Too many requests; Retry-After says when to try again."},
		{"503", "Unavailable", "The search index did not catch up with the acknowledged writes in time, or the server is stopping; try again."},
		{"507", "InsufficientStorage", "The server's disk is full; nothing was written."},
	}
}

// hookNamePattern is what a hook module's name matches.
const hookNamePattern = "^[a-z0-9_-]{1,64}$"

func problemResponse(desc string, headers ...string) object {
	var h object
	for _, name := range headers {
		h.set(name, ref("headers", name))
	}
	return obj("description", desc, "headers", h, "content", obj(
		"application/problem+json", obj("schema", schemaRef("Problem")),
	))
}

// sharedResponses returns components.responses.
func sharedResponses() object {
	out := object{}
	for _, p := range problemStatuses() {
		var headers []string
		if p.status == "429" {
			headers = append(headers, "Retry-After")
		}
		out.set(p.name, problemResponse(p.description, headers...))
	}
	out.set("Error", problemResponse("Any other error: 500 internal, 500 hook_failed naming the hook (nothing was written), "+
		"503 timeout when the request ran past request_timeout, or 503 when the server is stopping."))
	return out
}

// globalTags returns the tags of the global routes. Their names are
// capitalized, so they never meet a type's tag.
func globalTags() []any {
	return []any{
		obj("name", "Types", "description", "Define, change and drop resource types."),
		obj("name", "Changes", "description", "The change log."),
		obj("name", "Batch", "description", "All-or-nothing writes across types."),
		obj("name", "Blobs", "description", "Content-addressed files that resources reference."),
		obj("name", "Keys", "description", "API keys (administrators only)."),
		obj("name", "Hooks", "description", "WebAssembly hook modules (administrators only)."),
		obj("name", "Webhooks", "description", "Signed deliveries of the change log (administrators only)."),
		obj("name", "Operations", "description", "Export, import and online backup (administrators only)."),
		obj("name", "Docs", "description", "This document and the interactive documentation."),
		obj("name", "Health", "description", "Liveness, readiness and metrics."),
	}
}
