package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// pocketbaseEnv names the PocketBase binary the live tests run; they skip
// without it (CI has none: build one from PocketBase's examples/base).
const pocketbaseEnv = "STRATA_BENCH_POCKETBASE"

var update = flag.Bool("update", false, "rewrite testdata/pocketbase from the PocketBase binary in $"+pocketbaseEnv)

// pocketbaseBinary returns the binary named by pocketbaseEnv or skips.
func pocketbaseBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv(pocketbaseEnv)
	if bin == "" {
		t.Skipf("no PocketBase binary: set %s to one (e.g. built with `CGO_ENABLED=0 go build` in PocketBase's examples/base) to run this test", pocketbaseEnv)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v", pocketbaseEnv, err)
	}
	return bin
}

// recorded returns testdata/pocketbase/name, the body of a response of a
// real PocketBase (v0.39.11) recorded by TestPocketBaseResponses -update.
func recorded(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pocketbase", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recordedStatus returns the status recorded with a response: the first
// line of name.
func recordedResponse(t *testing.T, name string) (int, []byte) {
	t.Helper()
	status, body, ok := bytes.Cut(recorded(t, name), []byte("\n"))
	n, err := strconv.Atoi(string(status))
	if !ok || err != nil {
		t.Fatalf("%s: no status line", name)
	}
	return n, body
}

// editJSON decodes body, applies edit and encodes the result.
func editJSON(t *testing.T, body []byte, edit func(map[string]any)) []byte {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	edit(v)
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// editField edits the field named name of a recorded collection.
func editField(name string, edit func(f map[string]any)) func(map[string]any) {
	return func(c map[string]any) {
		for _, f := range c["fields"].([]any) {
			if f := f.(map[string]any); f["name"] == name {
				edit(f)
			}
		}
	}
}

func TestPBCollectionCoversDocuments(t *testing.T) {
	t.Parallel()
	// The JSON kinds each PocketBase field type takes.
	kinds := map[string][]string{"text": {"string"}, "date": {"string"}, "number": {"number"}, "bool": {"bool"}, "json": {"array", "object", "string", "number", "bool"}}
	kind := func(v any) string {
		switch v.(type) {
		case string:
			return "string"
		case float64:
			return "number"
		case bool:
			return "bool"
		case []any:
			return "array"
		}
		return "object"
	}
	var schema struct {
		Required   []string
		Properties map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(typeSchema), &schema); err != nil {
		t.Fatal(err)
	}
	fields := map[string]pbField{}
	for _, f := range pbFields {
		fields[f.Name] = f
	}
	for name := range schema.Properties {
		f, ok := fields[name]
		if !ok {
			t.Errorf("typeSchema's %q has no PocketBase field", name)
			continue
		}
		if want := slices.Contains(schema.Required, name); f.Required != want {
			t.Errorf("field %q: required %v, typeSchema's %v", name, f.Required, want)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 100 {
		var doc map[string]any
		if err := json.Unmarshal(appendDoc(nil, rng, uint64(i)), &doc); err != nil {
			t.Fatal(err)
		}
		for k, v := range doc {
			f, ok := fields[k]
			if !ok {
				t.Fatalf("document field %q has no PocketBase field: PocketBase would drop it", k)
			}
			if !slices.Contains(kinds[f.Type], kind(v)) {
				t.Fatalf("document field %q is a %s; PocketBase's %s field takes %v", k, kind(v), f.Type, kinds[f.Type])
			}
		}
	}
	// The definition is what checkPBCollection checks the answer against.
	var def struct {
		Name   string
		Type   string
		Fields []pbField
	}
	if err := json.Unmarshal(pbCollectionDefinition(), &def); err != nil {
		t.Fatal(err)
	}
	if def.Name != pbCollection || def.Type != "base" || !reflect.DeepEqual(def.Fields, pbFields) {
		t.Errorf("pbCollectionDefinition() = %s", pbCollectionDefinition())
	}
}

func TestCheckPBCollection(t *testing.T) {
	t.Parallel()
	_, body := recordedResponse(t, "collection-create.txt")
	tests := []struct {
		name string
		edit func(map[string]any)
		want string // in the error; "" for none
	}{
		{name: "as recorded", edit: func(map[string]any) {}},
		{name: "field missing", want: `no field "seq"`, edit: func(c map[string]any) {
			c["fields"] = slices.DeleteFunc(c["fields"].([]any), func(f any) bool { return f.(map[string]any)["name"] == "seq" })
		}},
		{name: "date as text", want: `field "published"`, edit: editField("published", func(f map[string]any) { f["type"] = "text" })},
		{name: "title not required", want: `field "title"`, edit: editField("title", func(f map[string]any) { f["required"] = false })},
		{name: "rating max 10", want: `field "rating"`, edit: editField("rating", func(f map[string]any) { f["max"] = 10 })},
		{name: "views min gone", want: `field "views"`, edit: editField("views", func(f map[string]any) { f["min"] = nil })},
		{name: "seq not integer", want: `field "seq"`, edit: editField("seq", func(f map[string]any) { f["onlyInt"] = false })},
		{name: "updated not on update", want: `field "updated"`, edit: editField("updated", func(f map[string]any) { f["onUpdate"] = false })},
		{name: "bad bound", want: `bound "x"`, edit: editField("score", func(f map[string]any) { f["max"] = "x" })},
		{name: "other collection", want: `"docs" of type base`, edit: func(c map[string]any) { c["name"] = "posts" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkPBCollection(editJSON(t, body, tt.edit))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("checkPBCollection: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("checkPBCollection: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestCheckPBRecord(t *testing.T) {
	t.Parallel()
	sent := recorded(t, "record-sent.json")
	_, body := recordedResponse(t, "record-create.txt")
	var rec struct{ ID string }
	if err := json.Unmarshal(body, &rec); err != nil || rec.ID == "" {
		t.Fatalf("recorded record has no id: %v", err)
	}
	tests := []struct {
		name string
		edit func(map[string]any)
		want string // in the error; "" for none
	}{
		{name: "as recorded", edit: func(map[string]any) {}},
		{name: "field dropped", want: `field "seq" is <nil>`, edit: func(r map[string]any) { delete(r, "seq") }},
		{name: "other date", want: `field "published"`, edit: func(r map[string]any) { r["published"] = "1999-01-01 00:00:00.000Z" }},
		{name: "tags changed", want: `field "tags"`, edit: func(r map[string]any) { r["tags"] = []string{"go"} }},
		{name: "no id", want: "no id", edit: func(r map[string]any) { delete(r, "id") }},
		{name: "no created", want: "no created date", edit: func(r map[string]any) { delete(r, "created") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := checkPBRecord(sent, editJSON(t, body, tt.edit))
			switch {
			case tt.want == "" && (err != nil || id != rec.ID):
				t.Errorf("checkPBRecord = %q, %v; want %q", id, err, rec.ID)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("checkPBRecord: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestParsePBResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		parse func(int, []byte) (string, error)
		want  string // the value, or the error's text with err set
		err   bool
	}{
		{file: "auth.txt", parse: parsePBAuth, want: "eyJ"}, // a JWT
		{file: "auth-wrong-password.txt", parse: parsePBAuth, err: true, want: "status 400: Failed to authenticate."},
		{file: "record-create.txt", parse: parsePBAuth, err: true, want: "no superuser token"},
		{file: "list.txt", parse: intParser(parsePBTotal), want: "2"},
		{file: "list-without-token.txt", parse: intParser(parsePBTotal), err: true, want: "status 403: Only superusers can perform this action."},
		{file: "record-create.txt", parse: intParser(parsePBTotal), err: true, want: "no totalItems"},
		{file: "record-invalid.txt", parse: func(status int, body []byte) (string, error) { return "", pbError(status, body) }, err: true,
			want: "status 400: Failed to create record. rating: Must be less or equal than 5. (validation_max_number_constraint); title: Cannot be blank. (validation_required)"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			status, body := recordedResponse(t, tt.file)
			got, err := tt.parse(status, body)
			switch {
			case tt.err && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %q, %v; want an error with %q", got, err, tt.want)
			case !tt.err && (err != nil || !strings.HasPrefix(got, tt.want)):
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if err := pbError(502, []byte("<html>bad gateway</html>")); err == nil || err.Error() != "status 502: <html>bad gateway</html>" {
		t.Errorf("pbError of a non-JSON body: %v", err)
	}
}

func intParser(f func(int, []byte) (int, error)) func(int, []byte) (string, error) {
	return func(status int, body []byte) (string, error) {
		n, err := f(status, body)
		return strconv.Itoa(n), err
	}
}

// TestPocketBaseResponses starts the PocketBase binary in $STRATA_BENCH_POCKETBASE as the
// PocketBase run does, sends the requests whose answers testdata/pocketbase
// holds and checks that the parsers take the live answers as they take the
// recorded ones; with -update it records them anew.
func TestPocketBaseResponses(t *testing.T) {
	bin := pocketbaseBinary(t)
	b := &bench{
		opts:  options{pocketbase: bin, procs: 2},
		log:   os.Stderr,
		key:   fmt.Sprintf("bench-%016x", rand.Uint64()),
		setup: &fasthttp.Client{ReadTimeout: requestTimeout, WriteTimeout: requestTimeout, NoDefaultUserAgentHeader: true},
	}
	c, token, err := b.startPocketBase(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.stop(); err != nil {
			t.Error(err)
		}
	}()

	responses := map[string][]byte{}
	call := func(file, method, path, token string, body []byte) (int, []byte) {
		t.Helper()
		status, resp, err := b.pbCall(c.addr, method, path, token, body)
		if err != nil {
			t.Fatal(err)
		}
		if file != "" {
			responses[file] = append([]byte(strconv.Itoa(status)+"\n"), resp...)
		}
		return status, resp
	}
	creds := func(password string) []byte {
		return []byte(`{"identity":"` + pbEmail + `","password":"` + password + `"}`)
	}
	const authPath = "/api/collections/_superusers/auth-with-password"
	if _, err := parsePBAuth(call("auth.txt", fasthttp.MethodPost, authPath, "", creds(b.key))); err != nil {
		t.Error(err)
	}
	if _, err := parsePBAuth(call("auth-wrong-password.txt", fasthttp.MethodPost, authPath, "", creds("wrong-password"))); err == nil {
		t.Error("a wrong password signed in")
	}
	// startPocketBase created the collection; a second one shows PocketBase's
	// answer to the definition.
	def := bytes.Replace(pbCollectionDefinition(), []byte(`"name":"docs"`), []byte(`"name":"docs2"`), 1)
	status, body := call("", fasthttp.MethodPost, "/api/collections", token, def)
	body = bytes.Replace(body, []byte(`"name":"docs2"`), []byte(`"name":"docs"`), 1)
	responses["collection-create.txt"] = append([]byte(strconv.Itoa(status)+"\n"), body...)
	if err := checkPBCollection(body); status != fasthttp.StatusOK || err != nil {
		t.Errorf("create collection: status %d, %v", status, err)
	}
	sent := appendDoc(nil, rand.New(rand.NewPCG(5, 6)), 42)
	responses["record-sent.json"] = sent
	recordsPath := "/api/collections/" + pbCollection + "/records"
	status, body = call("record-create.txt", fasthttp.MethodPost, recordsPath, token, sent)
	if _, err := checkPBRecord(sent, body); status != fasthttp.StatusOK || err != nil {
		t.Errorf("create record: status %d, %v", status, err)
	}
	status, _ = call("record-invalid.txt", fasthttp.MethodPost, recordsPath, token, []byte(`{"title":"","body":"x","rating":9}`))
	if status != fasthttp.StatusBadRequest {
		t.Errorf("create an invalid record: status %d, want 400", status)
	}
	if n, err := parsePBTotal(call("list-without-token.txt", fasthttp.MethodGet, recordsPath+"?perPage=1&fields=id", "", nil)); err == nil {
		t.Errorf("list without a token: %d records, want an error", n)
	}
	// The check of the run's first record made one before.
	if n, err := parsePBTotal(call("list.txt", fasthttp.MethodGet, recordsPath+"?perPage=1&fields=id", token, nil)); err != nil || n != 2 {
		t.Errorf("count records: %d, %v; want 2", n, err)
	}

	dir := filepath.Join("testdata", "pocketbase")
	for file, live := range responses {
		path := filepath.Join(dir, file)
		if *update {
			if err := os.WriteFile(path, live, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Ids, tokens and times differ; the status and the members do not.
		if s := func(b []byte) string { l, _, _ := bytes.Cut(b, []byte("\n")); return string(l) }; s(old) != s(live) {
			t.Errorf("%s: status %s, recorded %s", file, s(live), s(old))
		}
	}
}

// TestPocketBaseRun runs the bench's PocketBase run in quick mode against
// the binary in $STRATA_BENCH_POCKETBASE: the report must have both rows,
// with rates from both servers and no failed request.
func TestPocketBaseRun(t *testing.T) {
	bin := pocketbaseBinary(t)
	strata := filepath.Join(t.TempDir(), "strata")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", strata, "../strata")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build strata: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	args := []string{"-strata", strata, "-pocketbase", bin, "-quick", "-docs", "3000", "-run", "^create",
		"-skip-hooks", "-skip-hooked-load", "-skip-auth", "-skip-search", "-skip-size"}
	if err := run(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	out := stdout.String()
	t.Logf("report:\n%s", out)
	header, rows := markdownTable(t, out, "Run")
	col := func(name string) int {
		i := slices.Index(header, name)
		if i < 0 {
			t.Fatalf("no column %q in %q", name, header)
		}
		return i
	}
	for _, name := range []string{"fresh", "at 3,000 records"} {
		r, ok := rows[name]
		if !ok {
			t.Errorf("no row %q", name)
			continue
		}
		if got := r[col("Errors PB/S")]; got != "0/0" {
			t.Errorf("%s: errors %s, want 0/0", name, got)
		}
		for _, c := range []string{"PocketBase creates/s", "Strata creates/s"} {
			if n, err := strconv.Atoi(strings.ReplaceAll(r[col(c)], ",", "")); err != nil || n <= 0 {
				t.Errorf("%s: %s %q, want a positive rate", name, c, r[col(c)])
			}
		}
		if !strings.Contains(r[col("Server CPU/req PB/S")], "s / ") {
			t.Errorf("%s: server CPU %q", name, r[col("Server CPU/req PB/S")])
		}
	}
	if r := rows["at 3,000 records"]; r != nil {
		before := strings.Split(r[col("Records before PB/S")], " / ")
		for i, who := range []string{"PocketBase", "Strata"} {
			if n, err := strconv.Atoi(strings.ReplaceAll(before[i], ",", "")); err != nil || n < 3000 {
				t.Errorf("%s held %q records before the second window, want ≥ 3,000", who, before[i])
			}
		}
	}
	if !strings.Contains(out, "pocketbase version") {
		t.Errorf("the report does not name PocketBase's version")
	}
}

func TestPocketBaseOption(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "strata")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pocketbase string
		want       string // parsed; "" for an error
	}{
		{pocketbase: "", want: ""},
		{pocketbase: bin, want: bin},
		{pocketbase: filepath.Join(t.TempDir(), "missing")},
	}
	for _, tt := range tests {
		o, err := parseOptions([]string{"-strata", bin, "-skip-hooks", "-pocketbase", tt.pocketbase}, &bytes.Buffer{})
		switch {
		case tt.pocketbase != "" && tt.want == "" && (err == nil || !strings.Contains(err.Error(), "-pocketbase")):
			t.Errorf("-pocketbase %q: %v, want an error naming -pocketbase", tt.pocketbase, err)
		case tt.want != "" && (err != nil || o.pocketbase != tt.want):
			t.Errorf("-pocketbase %q: %q, %v; want %q", tt.pocketbase, o.pocketbase, err, tt.want)
		case tt.pocketbase == "" && (err != nil || o.pocketbase != ""):
			t.Errorf("-pocketbase \"\": %q, %v; want none", o.pocketbase, err)
		}
	}
}
