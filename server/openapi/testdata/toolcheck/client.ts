// A small client of the types TestThirdPartyTools defines, type-checked with
// tsc --strict against what openapi-typescript generates from the server's
// /openapi.json (./schema.ts). It compiles only if the generated types are
// usable: a plain object literal is a resource's data, a create body may
// carry an id, an envelope and a page have the fields the server sends.
import type { components, paths } from "./schema";

type Schemas = components["schemas"];
type Post = Schemas["posts"];
type PostInput = NonNullable<paths["/api/posts"]["post"]["requestBody"]>["content"]["application/json"];
type PostEnvelope = paths["/api/posts/{id}"]["get"]["responses"][200]["content"]["application/json"];
type PostPage = paths["/api/posts"]["get"]["responses"][200]["content"]["application/json"];
type Problem = paths["/api/posts"]["post"]["responses"][422]["content"]["application/problem+json"];
type Category = Schemas["categories"];
type Comment = Schemas["comments"];

const image: Schemas["posts_image"] = { url: "https://example.com/a.png", size: { width: 640, height: 480 } };

const data: Post = {
	title: "Hello",
	status: "published",
	published_at: "2026-11-22T08:00:00.000Z",
	tags: ["go", "json"],
	cover: image,
	gallery: [image, { url: "https://example.com/b.png", alt: "b" }],
	seo: { slug: "hello", keywords: ["intro"] },
	rating: 4.5,
	views: 3,
};

// A create body names the new resource with an optional id.
const create: PostInput = { ...data, id: "hello-world" };
const createWithoutID: PostInput = { title: "Draft", status: "draft" };

// @ts-expect-error: title is required.
const untitled: Post = { status: "draft" };
// @ts-expect-error: status is one of the enum's values.
const badStatus: Post = { title: "x", status: "deleted" };
// @ts-expect-error: the type's additionalProperties is false.
const extra: Post = { title: "x", status: "draft", colour: "red" };

const envelope: PostEnvelope = {
	id: "hello-world",
	type: "posts",
	data,
	meta: {
		current_revision: 1,
		revision_count: 1,
		created_at: "2026-11-22T08:00:00.000Z",
		updated_at: "2026-11-22T08:00:00.000Z",
		deleted: false,
		schema_version: 1,
	},
	revision: {
		number: 1,
		parent: null,
		created_at: "2026-11-22T08:00:00.000Z",
		data_hash: "sha256:" + "ab".repeat(32),
		action: "create",
		hooks: [],
	},
};

const page: PostPage = { items: [envelope], next_cursor: null, total: 1 };

const problem: Problem = {
	type: "urn:strata:problem:validation",
	title: "Validation failed",
	status: 422,
	errors: [{ path: "/title", message: "is required", source: "schema" }],
};

const tree: Category = { name: "root", children: [{ name: "leaf" }] };
const comment: Comment = { post: "hello-world", author: null, text: "Nice", replies: [{ post: "hello-world", text: "Thanks" }] };

function titles(p: PostPage): string[] {
	return p.items.map((item) => item.data.title);
}

export const used = [create, createWithoutID, untitled, badStatus, extra, page, problem, tree, comment, titles(page)];
