package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// The PocketBase run (-pocketbase) measures durable creates in Strata,
// into a type whose title and body are search fields with its index
// built, beside creates of the same documents in PocketBase, fresh and
// once both hold -docs records.

const (
	// pbTarget is the least ratio of Strata's durable creates with a warm
	// search index to PocketBase's creates (issue #9).
	pbTarget = 2.5
	// pbCollection is the PocketBase collection the run creates records in.
	pbCollection = "docs"
	// pbSearchType is Strata's type in the run: typeSchema with title and
	// body as search fields.
	pbSearchType = typeName + "_search"
	// pbEmail is the superuser the run creates; its password is random.
	pbEmail = "bench@example.com"
)

// pbField is a field of a PocketBase collection, as POST /api/collections
// takes it and as PocketBase echoes it. Text fields take min and max as
// lengths, number fields as bounds.
type pbField struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Required bool     `json:"required,omitempty"`
	Min      *float64 `json:"min,omitempty"`
	Max      *float64 `json:"max,omitempty"`
	OnlyInt  bool     `json:"onlyInt,omitempty"`
	OnCreate bool     `json:"onCreate,omitempty"`
	OnUpdate bool     `json:"onUpdate,omitempty"`
}

func bound(x float64) *float64 { return &x }

// pbFields are the collection's fields: one per field appendDoc writes,
// with PocketBase's closest type and typeSchema's constraints (tags is a
// json field: PocketBase has no array-of-strings type other than select,
// which would also restrict the values), and the created and updated
// autodate fields that PocketBase's dashboard gives every new collection.
// No index: PocketBase has no full-text index (its `~` filter is a LIKE
// over the column), and a B-tree index on title or body would not serve
// that filter, so none stands for Strata's search fields.
var pbFields = []pbField{
	{Name: "title", Type: "text", Required: true, Max: bound(200)},
	{Name: "summary", Type: "text"},
	{Name: "body", Type: "text", Required: true},
	{Name: "tags", Type: "json"},
	{Name: "author", Type: "text"},
	{Name: "views", Type: "number", OnlyInt: true, Min: bound(0)},
	{Name: "score", Type: "number"},
	{Name: "rating", Type: "number", OnlyInt: true, Min: bound(1), Max: bound(5)},
	{Name: "draft", Type: "bool"},
	{Name: "published", Type: "date"},
	{Name: "seq", Type: "number", OnlyInt: true},
	{Name: "created", Type: "autodate", OnCreate: true},
	{Name: "updated", Type: "autodate", OnCreate: true, OnUpdate: true},
}

// pbCollectionDefinition is the body of PocketBase's POST /api/collections
// for pbCollection: a base collection with pbFields and no rules, so only
// a superuser (the run's token) may write, as only the admin key may in
// Strata.
func pbCollectionDefinition() []byte {
	def, err := json.Marshal(struct {
		Name    string    `json:"name"`
		Type    string    `json:"type"`
		Fields  []pbField `json:"fields"`
		Indexes []string  `json:"indexes"`
	}{pbCollection, "base", pbFields, []string{}})
	if err != nil {
		panic(err) // a fixed value of plain types always marshals
	}
	return def
}

// checkPBCollection checks PocketBase's answer to the collection's
// definition: every field of pbFields with its type and constraints, so
// that PocketBase stores, and checks, what Strata does.
func checkPBCollection(body []byte) error {
	var c struct {
		Name   string
		Type   string
		Fields []struct {
			pbField
			// Bounds come back as numbers, null, or "" (dates).
			Min json.RawMessage `json:"min"`
			Max json.RawMessage `json:"max"`
		}
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return fmt.Errorf("collection: %w", err)
	}
	if c.Name != pbCollection || c.Type != "base" {
		return fmt.Errorf("collection: got %q of type %q, want %q of type base", c.Name, c.Type, pbCollection)
	}
	for _, want := range pbFields {
		i := 0
		for i < len(c.Fields) && c.Fields[i].Name != want.Name {
			i++
		}
		if i == len(c.Fields) {
			return fmt.Errorf("collection: no field %q", want.Name)
		}
		got := c.Fields[i].pbField
		// A text field's 0 is no bound; a number field's is one.
		zero := got.Type == "text"
		var err error
		if got.Min, err = pbBound(c.Fields[i].Min, zero); err == nil {
			got.Max, err = pbBound(c.Fields[i].Max, zero)
		}
		if err != nil {
			return fmt.Errorf("collection: field %q: %w", want.Name, err)
		}
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("collection: field %q is %s, want %s", want.Name, fieldString(got), fieldString(want))
		}
	}
	return nil
}

// pbBound decodes a bound of a field as PocketBase echoes it; absent,
// null and "" (a date field's) are no bound, and so is 0 when zeroIsNone.
func pbBound(raw json.RawMessage, zeroIsNone bool) (*float64, error) {
	switch string(raw) {
	case "", "null", `""`:
		return nil, nil
	}
	var x float64
	if err := json.Unmarshal(raw, &x); err != nil {
		return nil, fmt.Errorf("bound %s: %w", raw, err)
	}
	if x == 0 && zeroIsNone {
		return nil, nil
	}
	return &x, nil
}

func fieldString(f pbField) string {
	s, _ := json.Marshal(f)
	return string(s)
}

// checkPBRecord checks PocketBase's answer to the create of document sent
// and returns the record's id: PocketBase ignores fields a collection does
// not have, so a record that lacks one of the document's fields means the
// collection is missing it and PocketBase did less work than Strata.
// Dates come back as "2023-05-07 00:00:00.000Z" for "2023-05-07".
func checkPBRecord(sent, body []byte) (string, error) {
	var doc, rec map[string]any
	if err := json.Unmarshal(sent, &doc); err != nil {
		return "", fmt.Errorf("document: %w", err)
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		return "", fmt.Errorf("record: %w", err)
	}
	id, _ := rec["id"].(string)
	if id == "" {
		return "", fmt.Errorf("record: no id in %s", body)
	}
	if s, _ := rec["created"].(string); s == "" {
		return "", fmt.Errorf("record %s: no created date", id)
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		want, got := doc[k], rec[k]
		if ws, ok := want.(string); ok && k == "published" {
			if gs, _ := got.(string); strings.HasPrefix(gs, ws+" ") {
				continue
			}
		}
		if !reflect.DeepEqual(got, want) {
			return "", fmt.Errorf("record %s: field %q is %v, sent %v", id, k, got, want)
		}
	}
	return id, nil
}

// pbError describes a PocketBase error response: its message and, for a
// validation error, each field's code.
func pbError(status int, body []byte) error {
	var e struct {
		Message string
		Data    map[string]struct{ Code, Message string }
	}
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		if len(body) > 300 {
			body = body[:300]
		}
		return fmt.Errorf("status %d: %s", status, body)
	}
	fields := make([]string, 0, len(e.Data))
	for k, v := range e.Data {
		fields = append(fields, fmt.Sprintf("%s: %s (%s)", k, v.Message, v.Code))
	}
	slices.Sort(fields)
	if len(fields) == 0 {
		return fmt.Errorf("status %d: %s", status, e.Message)
	}
	return fmt.Errorf("status %d: %s %s", status, e.Message, strings.Join(fields, "; "))
}

// parsePBAuth returns the token of PocketBase's answer to
// auth-with-password.
func parsePBAuth(status int, body []byte) (string, error) {
	if status != fasthttp.StatusOK {
		return "", fmt.Errorf("authenticate superuser: %w", pbError(status, body))
	}
	var a struct {
		Token  string
		Record struct{ CollectionName string }
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return "", fmt.Errorf("authenticate superuser: %w", err)
	}
	if a.Token == "" || a.Record.CollectionName != "_superusers" {
		return "", fmt.Errorf("authenticate superuser: no superuser token in %s", body)
	}
	return a.Token, nil
}

// parsePBTotal returns totalItems of a PocketBase list page.
func parsePBTotal(status int, body []byte) (int, error) {
	if status != fasthttp.StatusOK {
		return 0, fmt.Errorf("count records: %w", pbError(status, body))
	}
	var page struct {
		TotalItems *int `json:"totalItems"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return 0, fmt.Errorf("count records: %w", err)
	}
	if page.TotalItems == nil {
		return 0, fmt.Errorf("count records: no totalItems in %.300s", body)
	}
	return *page.TotalItems, nil
}

// pbRow is one measured window of the PocketBase run: the same creates,
// first into PocketBase, then into Strata.
type pbRow struct {
	Name    string `json:"name"`
	Clients int    `json:"clients"`
	// PBRecords and StrataRecords are the records each held before the
	// window (counted by each server).
	PBRecords     int     `json:"pocketbase_records"`
	StrataRecords int     `json:"strata_records"`
	PocketBase    result  `json:"pocketbase"`
	Strata        result  `json:"strata"`
	Ratio         float64 `json:"ratio"` // Strata creates/s ÷ PocketBase creates/s
	Target        float64 `json:"target"`
}

func (r pbRow) verdict() string { return verdict(r.Ratio, r.Target) }

// pbResult is the outcome of the PocketBase run.
type pbResult struct {
	Binary  string  `json:"binary"`
	Version string  `json:"version"` // from pocketbase --version
	Rows    []pbRow `json:"rows"`
	// FillPB and FillStrata are the creates that filled each server up to
	// Docs records between the windows; unset when none were needed.
	Docs       int    `json:"docs"`
	FillPB     result `json:"fill_pocketbase"`
	FillStrata result `json:"fill_strata"`
	// Records each server counted at the end, and how long Strata's index
	// took after the last create to count them all (strong consistency).
	PBRecords     int           `json:"pocketbase_records"`
	StrataRecords int           `json:"strata_records"`
	CatchUp       time.Duration `json:"strata_index_catch_up_ns"`
	// Sizes of the data directories at the end (files).
	PBDataBytes     int64 `json:"pocketbase_data_bytes"`
	StrataDataBytes int64 `json:"strata_data_bytes"`
}

// pocketbaseRun runs PocketBase and Strata side by side over fresh data
// directories and measures the same durable creates in both, fresh and
// once each holds opts.docs records.
func (b *bench) pocketbaseRun(ctx context.Context) (p pbResult, err error) {
	p = pbResult{Binary: b.opts.pocketbase, Docs: b.opts.docs}
	out, err := exec.CommandContext(ctx, b.opts.pocketbase, "--version").Output()
	if err != nil {
		return p, fmt.Errorf("%s --version: %w", b.opts.pocketbase, err)
	}
	p.Version = strings.TrimSpace(string(out))
	home := filepath.Join(b.dir, "pocketbase")
	defer os.RemoveAll(home) // a large directory: gone before the next run
	pb, token, err := b.startPocketBase(ctx, home)
	if err != nil {
		return p, err
	}
	defer stopChild(pb, &err)
	pbAuth := "Bearer " + token

	strata, data, err := b.startStrata(ctx, "pocketbase-strata")
	if err != nil {
		return p, err
	}
	defer stopChild(strata, &err)
	if err := b.defineSearchType(ctx, strata.addr, data); err != nil {
		return p, err
	}

	pbCreate := func(w *worker, req *fasthttp.Request) { b.fillPBCreate(w, req) }
	stCreate := func(w *worker, req *fasthttp.Request) { b.fillCreate(w, req, pbSearchType) }
	window := func(name string) (r pbRow, err error) {
		r = pbRow{Name: name, Clients: b.opts.concurrency, Target: pbTarget}
		if r.PBRecords, err = b.countPB(pb.addr, pbAuth); err != nil {
			return r, err
		}
		if r.StrataRecords, err = b.countStrata(ctx, strata.addr, 0); err != nil {
			return r, err
		}
		l := load{clients: b.opts.concurrency, warmup: b.opts.warmup, duration: b.opts.duration}
		b.settle(ctx, pb, strata)
		l.auth, l.build = pbAuth, pbCreate
		if r.PocketBase, err = measure(ctx, pb, l); err != nil {
			return r, err
		}
		b.settle(ctx, pb, strata)
		l.auth, l.build = b.auth(), stCreate
		if r.Strata, err = measure(ctx, strata, l); err != nil {
			return r, err
		}
		if r.PocketBase.RPS > 0 {
			r.Ratio = r.Strata.RPS / r.PocketBase.RPS
		}
		fmt.Fprintf(b.log, "strata-bench: pocketbase run, %-18s pocketbase %7.0f creates/s, strata %7.0f creates/s, ratio %.2f\n",
			name+":", r.PocketBase.RPS, r.Strata.RPS, r.Ratio)
		b.logFailures("pocketbase", "pocketbase run "+name, r.PocketBase)
		b.logFailures("strata", "pocketbase run "+name, r.Strata)
		return r, nil
	}

	fresh, err := window("fresh")
	if err != nil {
		return p, err
	}
	p.Rows = append(p.Rows, fresh)

	// Fill both up to opts.docs records, as fast as the clients go.
	pbHave, err := b.countPB(pb.addr, pbAuth)
	if err != nil {
		return p, err
	}
	stHave, err := b.countStrata(ctx, strata.addr, 0)
	if err != nil {
		return p, err
	}
	if n := b.opts.docs - pbHave; n > 0 {
		fmt.Fprintf(b.log, "strata-bench: pocketbase run: creating %d more records in pocketbase\n", n)
		if p.FillPB, err = measure(ctx, pb, load{auth: pbAuth, clients: b.opts.concurrency, count: n, build: pbCreate}); err != nil {
			return p, err
		}
		b.logFailures("pocketbase", "pocketbase run fill", p.FillPB)
	}
	if n := b.opts.docs - stHave; n > 0 {
		fmt.Fprintf(b.log, "strata-bench: pocketbase run: creating %d more records in strata\n", n)
		if p.FillStrata, err = measure(ctx, strata, load{auth: b.auth(), clients: b.opts.concurrency, count: n, build: stCreate}); err != nil {
			return p, err
		}
		b.logFailures("strata", "pocketbase run fill", p.FillStrata)
	}

	full, err := window("at " + fmtCount(float64(b.opts.docs)) + " records")
	if err != nil {
		return p, err
	}
	p.Rows = append(p.Rows, full)

	done := time.Now()
	want := full.StrataRecords + full.Strata.Sent - full.Strata.Errors
	if p.StrataRecords, err = b.countStrata(ctx, strata.addr, want); err != nil {
		return p, err
	}
	p.CatchUp = time.Since(done)
	if p.PBRecords, err = b.countPB(pb.addr, pbAuth); err != nil {
		return p, err
	}
	if p.PBDataBytes, _, err = dirSize(filepath.Join(home, "pb_data")); err != nil {
		return p, err
	}
	if p.StrataDataBytes, _, err = dirSize(data); err != nil {
		return p, err
	}
	return p, nil
}

// defineSearchType defines pbSearchType in the Strata at addr and builds
// its (empty) search index with a first search, so that the index follows
// every create, as it does for a type that is searched.
func (b *bench) defineSearchType(ctx context.Context, addr, data string) error {
	def := `{"name":"` + pbSearchType + `","schema":` + typeSchema + `,"search":["title","body"]}`
	status, body, err := b.call(addr, fasthttp.MethodPost, "/api/types", []byte(def))
	if err == nil && status != fasthttp.StatusCreated {
		err = fmt.Errorf("status %d: %s", status, body)
	}
	if err != nil {
		return fmt.Errorf("define type %s: %w", pbSearchType, err)
	}
	if _, err := b.countStrata(ctx, addr, 0); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(data, "index", "types", pbSearchType)); err != nil {
		return fmt.Errorf("search index of %s not built by a first search: %w", pbSearchType, err)
	}
	return nil
}

// countStrata returns the strong count of pbSearchType's resources once
// it is at least want (a strong count waits for the index), retrying a
// 503 (the index took over 5 s to catch up) for up to indexWait.
func (b *bench) countStrata(ctx context.Context, addr string, want int) (int, error) {
	path := "/api/" + pbSearchType + "/count?filter=" + url.QueryEscape("views >= 0")
	deadline := time.Now().Add(indexWait)
	for {
		status, body, err := b.call(addr, fasthttp.MethodGet, path, nil)
		if err != nil {
			return 0, fmt.Errorf("count %s: %w", pbSearchType, err)
		}
		switch status {
		case fasthttp.StatusOK:
			var c struct{ Count int }
			if err := json.Unmarshal(body, &c); err != nil {
				return 0, fmt.Errorf("count %s: %w", pbSearchType, err)
			}
			if c.Count >= want {
				return c.Count, nil
			}
		case fasthttp.StatusServiceUnavailable:
		default:
			return 0, fmt.Errorf("count %s: status %d: %s", pbSearchType, status, body)
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("count %s: fewer than %d after %v", pbSearchType, want, indexWait)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// fillPBCreate fills in the create of a new appendDoc document in
// PocketBase's pbCollection.
func (b *bench) fillPBCreate(w *worker, req *fasthttp.Request) {
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(w.url("/api/collections/", pbCollection, "/records"))
	req.Header.SetContentType("application/json")
	w.body = appendDoc(w.body[:0], w.rng, b.seq.Add(1))
	req.SetBodyRaw(w.body)
}

// pbCall sends one setup request to PocketBase with token (none when
// empty) and returns the status and a copy of the body.
func (b *bench) pbCall(addr, method, path, token string, body []byte) (int, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + addr + path)
	if token != "" {
		req.Header.Set(fasthttp.HeaderAuthorization, "Bearer "+token)
	}
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBody(body)
	}
	if err := b.setup.DoTimeout(req, resp, requestTimeout); err != nil {
		return 0, nil, fmt.Errorf("pocketbase %s %s: %w", method, path, err)
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), nil
}

// countPB returns the number of records in pbCollection. auth is the
// Authorization header value ("Bearer " and the token).
func (b *bench) countPB(addr, auth string) (int, error) {
	status, body, err := b.pbCall(addr, fasthttp.MethodGet, "/api/collections/"+pbCollection+"/records?perPage=1&fields=id",
		strings.TrimPrefix(auth, "Bearer "), nil)
	if err != nil {
		return 0, err
	}
	return parsePBTotal(status, body)
}

// pbStarted is the line PocketBase prints (to stdout) once it listens.
var pbStarted = []byte("Server started at ")

// startPocketBase creates a superuser in a fresh data directory under
// home, starts PocketBase serving it on a loopback port, signs the
// superuser in and creates pbCollection, checking PocketBase's answers.
// It returns the server and the superuser's token. --dev=false: PocketBase
// turns dev mode (every SQL statement logged) on by default for a binary
// under the temporary directory, which it takes for `go run`.
func (b *bench) startPocketBase(ctx context.Context, home string) (*child, string, error) {
	data := filepath.Join(home, "pb_data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, "", fmt.Errorf("pocketbase data dir: %w", err)
	}
	password := b.key // random per run, and long enough for PocketBase
	upsert := exec.CommandContext(ctx, b.opts.pocketbase, "superuser", "upsert", pbEmail, password, "--dir", data, "--dev=false")
	upsert.Dir, upsert.Env = home, b.childEnv()
	if out, err := upsert.CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("pocketbase superuser upsert: %w\n%s", err, out)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(b.opts.pocketbase, "serve", "--http", addr, "--dir", data, "--dev=false")
	cmd.Dir, cmd.Env = home, b.childEnv()
	c, err := startLogged(ctx, "pocketbase", cmd, pbStarted)
	if err != nil {
		return nil, "", err
	}
	c.addr = addr
	token, err := b.pbSetup(addr, password)
	if err != nil {
		_ = c.stop()
		return nil, "", err
	}
	return c, token, nil
}

// pbSetup signs the superuser in, creates pbCollection and one record,
// checking each answer, and returns the token.
func (b *bench) pbSetup(addr, password string) (string, error) {
	creds, _ := json.Marshal(map[string]string{"identity": pbEmail, "password": password})
	status, body, err := b.pbCall(addr, fasthttp.MethodPost, "/api/collections/_superusers/auth-with-password", "", creds)
	if err != nil {
		return "", err
	}
	token, err := parsePBAuth(status, body)
	if err != nil {
		return "", err
	}
	status, body, err = b.pbCall(addr, fasthttp.MethodPost, "/api/collections", token, pbCollectionDefinition())
	if err == nil && status != fasthttp.StatusOK {
		err = pbError(status, body)
	}
	if err == nil {
		err = checkPBCollection(body)
	}
	if err != nil {
		return "", fmt.Errorf("create pocketbase collection: %w", err)
	}
	w := newWorker(addr, 1)
	doc := appendDoc(nil, w.rng, b.seq.Add(1))
	status, body, err = b.pbCall(addr, fasthttp.MethodPost, "/api/collections/"+pbCollection+"/records", token, doc)
	if err == nil && status != fasthttp.StatusOK {
		err = pbError(status, body)
	}
	if err == nil {
		_, err = checkPBRecord(doc, body)
	}
	if err != nil {
		return "", fmt.Errorf("create a pocketbase record: %w", err)
	}
	return token, nil
}

// freeLoopbackAddr returns a loopback address with a port that was free
// a moment ago: PocketBase prints the address it was given, so it has to
// be given a real port rather than :0.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return addr, nil
}

// startLogged starts cmd with its stdout and stderr in one pipe and
// waits for a line that contains ready, as startChild does for the
// servers that log to stderr.
func startLogged(ctx context.Context, name string, cmd *exec.Cmd, ready []byte) (*child, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	detach(cmd)
	err = cmd.Start()
	_ = pw.Close() // the child holds its own copy
	if err != nil {
		_ = pr.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, exited: make(chan struct{})}
	started := make(chan struct{})
	go func() {
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		seen := false
		for sc.Scan() {
			c.remember(sc.Text())
			if !seen && bytes.Contains(sc.Bytes(), ready) {
				seen = true
				close(started)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
		c.err = cmd.Wait()
		close(c.exited)
	}()

	if err := c.await(ctx, started); err != nil {
		return nil, err
	}
	return c, nil
}

// errors lists the PocketBase run's windows with too many failures.
func (p pbResult) errors() []string {
	var bad []string
	note := func(what string, r result) {
		if r.errorRate() > maxErrorRate {
			bad = append(bad, fmt.Sprintf("%s: %d of %d requests failed", what, r.Errors, r.Sent))
		}
	}
	for _, r := range p.Rows {
		note("pocketbase creates "+r.Name, r.PocketBase)
		note("strata creates "+r.Name+" beside pocketbase", r.Strata)
	}
	note("pocketbase fill", p.FillPB)
	note("strata fill beside pocketbase", p.FillStrata)
	return bad
}

// writePocketBase writes the PocketBase section of the report.
func writePocketBase(b *strings.Builder, p pbResult) {
	fmt.Fprintf(b, "\n### Against PocketBase: durable creates with the search index warm\n\n")
	rows := [][]string{{"Run", "Records before PB/S", "Clients", "PocketBase creates/s", "Strata creates/s", "Ratio", "Target", "Result",
		"PocketBase p50", "PocketBase p99", "Strata p50", "Strata p99", "Server CPU/req PB/S", "Errors PB/S"}}
	for _, r := range p.Rows {
		rows = append(rows, []string{r.Name, fmtCount(float64(r.PBRecords)) + " / " + fmtCount(float64(r.StrataRecords)), fmt.Sprint(r.Clients),
			fmtCount(r.PocketBase.RPS), fmtCount(r.Strata.RPS), fmt.Sprintf("%.2f×", r.Ratio), fmt.Sprintf("≥ %.1f×", r.Target), r.verdict(),
			fmtLatency(r.PocketBase.P50), fmtLatency(r.PocketBase.P99), fmtLatency(r.Strata.P50), fmtLatency(r.Strata.P99),
			fmtLatency(r.PocketBase.ServerCPU) + " / " + fmtLatency(r.Strata.ServerCPU),
			fmt.Sprintf("%d/%d", r.PocketBase.Errors, r.Strata.Errors)})
	}
	writeTable(b, "lrrrrrllrrrrrr", rows)
	fmt.Fprintf(b, "\n%s (%s) and Strata, each over a fresh data directory with the same GOMAXPROCS, run side by side; "+
		"each window sends the same ~1 KiB documents as the create scenario, PocketBase first, then Strata, after both settled. "+
		"Strata: durable creates (fsync before the 201) into a type %q with the create scenario's schema and title and body as search fields, "+
		"its index built by a search before the first create, so every create is indexed (asynchronously). "+
		"PocketBase: POST /api/collections/%s/records as a superuser, into a base collection with a field of the closest type for each "+
		"of the document's fields (tags: json) plus created/updated autodates, the first record checked to hold every field; "+
		"no index, as PocketBase has no full-text index (its `~` filter is a LIKE). "+
		"PocketBase opens SQLite in WAL mode with synchronous=NORMAL (core/db_connect.go): a commit is not fsynced, only WAL checkpoints are, "+
		"so a power loss can lose acknowledged creates; it also writes a request log to its auxiliary database, as it does by default.\n",
		p.Version, p.Binary, pbSearchType, pbCollection)
	if p.FillPB.Requests > 0 || p.FillStrata.Requests > 0 {
		fmt.Fprintf(b, "\nBetween the windows both were filled to %s records by %d clients: PocketBase %s creates/s (%d errors), Strata %s creates/s (%d errors). ",
			fmtCount(float64(p.Docs)), p.Rows[0].Clients, fmtCount(p.FillPB.RPS), p.FillPB.Errors, fmtCount(p.FillStrata.RPS), p.FillStrata.Errors)
	} else {
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "At the end PocketBase counted %s records (%s of data) and Strata %s (%s of data, index included); "+
		"Strata's index counted its last creates %s after they were acknowledged.\n",
		fmtCount(float64(p.PBRecords)), fmtBytes(p.PBDataBytes), fmtCount(float64(p.StrataRecords)), fmtBytes(p.StrataDataBytes), fmtSeconds(p.CatchUp))
}
