package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/valyala/fasthttp"
)

// The PostgreSQL run (SPEC §10): durable creates, reads by id, list pages
// and search pages on one bbolt node, on one node over PostgreSQL and on
// two nodes sharing one PostgreSQL database, all up at once and measured
// side by side, each measure on the three in turn. The ratios to the bolt
// node are what the run reports; the one-node ratios have targets.

const (
	// defaultPostgres is the administrative URL the run creates its
	// databases through, the same server pgtest uses by default.
	defaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	// pgType is the run's type: the bench's schema with title and body as
	// search fields, so a create also feeds the node's full-text index.
	pgType = "pgdocs"
	// pgSeedDocs is how many documents each cluster holds before the
	// reads are measured (pgSeedDocsQuick with -quick): the same for the
	// three, so their lists and searches go through as much data.
	pgSeedDocs      = 10_000
	pgSeedDocsQuick = 300
	// pgRounds is how often each measure runs on each cluster (once with
	// -quick), the rounds interleaved, so that the machine's drift weighs
	// on the three alike.
	pgRounds = 3
	// pgWait bounds the waits for a node to see a type or every seeded
	// document.
	pgWait = 2 * time.Minute
)

// The one-node targets against the bolt node: creates and gets go to the
// database, lists and searches are answered by the node's own index.
const (
	pgCreateTarget = 0.5
	pgGetTarget    = 0.5
	pgListTarget   = 0.8
	pgSearchTarget = 0.8
)

// pgResult is the outcome of the PostgreSQL run.
type pgResult struct {
	// Server is the administrative URL, its password redacted.
	Server string `json:"server"`
	// Skipped says why the run did not happen (the server unreachable);
	// empty when it ran.
	Skipped string  `json:"skipped,omitempty"`
	Docs    int     `json:"docs"` // seeded in each cluster before the reads
	Rounds  int     `json:"rounds"`
	Clients int     `json:"clients"`
	Rows    []pgRow `json:"rows,omitempty"`
}

// pgRow is one measure on the three clusters.
type pgRow struct {
	Name   string  `json:"name"`
	Target float64 `json:"target"` // least PG 1 node ÷ bolt ratio
	Bolt   result  `json:"bolt"`
	One    result  `json:"pg_one_node"`
	Two    result  `json:"pg_two_nodes"`
	// RatioOne and RatioTwo are the PostgreSQL req/s ÷ the bolt node's.
	RatioOne float64 `json:"ratio_one_node"`
	RatioTwo float64 `json:"ratio_two_nodes"`
	// PGCPUOne and PGCPUTwo are the CPU time of the database's server
	// processes (its connections' backends) per request sent; zero when
	// unknown. The Strata nodes' own is in each result's ServerCPU.
	PGCPUOne time.Duration `json:"pg_cpu_one_node_ns"`
	PGCPUTwo time.Duration `json:"pg_cpu_two_nodes_ns"`
}

func (r pgRow) verdict() string { return verdict(r.RatioOne, r.Target) }

// pgCluster is one of the run's three: a bolt node, or nodes over one
// PostgreSQL database.
type pgCluster struct {
	name  string
	nodes []*child
	db    string   // the database's name; empty for the bolt node
	ids   []string // resources seeded, read by the get measure
}

func (c *pgCluster) addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.addr
	}
	return out
}

// pgMeasure is one row of the run. build makes the request for cluster c.
type pgMeasure struct {
	name   string
	target float64
	build  func(c *pgCluster, w *worker, req *fasthttp.Request)
}

func (b *bench) pgMeasures() []pgMeasure {
	page := "?limit=" + strconv.Itoa(pageSize)
	return []pgMeasure{
		{name: "get by id", target: pgGetTarget, build: func(c *pgCluster, w *worker, req *fasthttp.Request) {
			req.Header.SetMethod(fasthttp.MethodGet)
			req.SetRequestURIBytes(w.url("/api/", pgType, "/", c.ids[w.rng.IntN(len(c.ids))]))
		}},
		{name: "list page of 20", target: pgListTarget, build: func(_ *pgCluster, w *worker, req *fasthttp.Request) {
			req.Header.SetMethod(fasthttp.MethodGet)
			req.SetRequestURIBytes(w.url("/api/", pgType, page))
		}},
		{name: "search page of 20: tags ?= tag", target: pgSearchTarget, build: func(_ *pgCluster, w *worker, req *fasthttp.Request) {
			req.Header.SetMethod(fasthttp.MethodGet)
			req.SetRequestURIBytes(w.url("/api/", pgType, page, "&filter=",
				url.QueryEscape(`tags ?= "`+tags[w.rng.IntN(len(tags))]+`"`)))
		}},
		// Creates last: the reads all see the seeded documents only.
		{name: "create (durable)", target: pgCreateTarget, build: func(_ *pgCluster, w *worker, req *fasthttp.Request) {
			b.fillCreate(w, req, pgType)
		}},
	}
}

// pgTypeDefinition is the body of POST /api/types for pgType.
func pgTypeDefinition() []byte {
	return []byte(`{"name":"` + pgType + `","schema":` + typeSchema + `,"search":["title","body"]}`)
}

// postgresRun runs the PostgreSQL run. An unreachable server skips it,
// with the reason in the result, except under CI (the environment
// variable CI set), where it fails, as the PostgreSQL tests do.
func (b *bench) postgresRun(ctx context.Context) (r pgResult, err error) {
	r = pgResult{Server: redactURL(b.opts.postgres), Clients: b.opts.concurrency, Docs: pgSeedDocs}
	if b.opts.quick {
		r.Docs = pgSeedDocsQuick
	}
	if err := pingPostgres(ctx, b.opts.postgres); err != nil {
		if os.Getenv("CI") != "" {
			return r, fmt.Errorf("PostgreSQL is unreachable under CI: %w", err)
		}
		// pgx lists each address tried on a line of its own: one line.
		reason := strings.Join(strings.Fields(err.Error()), " ")
		r.Skipped = fmt.Sprintf("PostgreSQL at %s is unreachable (CI would fail): %s", r.Server, reason)
		fmt.Fprintf(b.log, "strata-bench: postgres run skipped: %s\n", r.Skipped)
		return r, nil
	}

	bolt := &pgCluster{name: "bolt"}
	one := &pgCluster{name: "PG 1 node"}
	two := &pgCluster{name: "PG 2 nodes"}
	clusters := []*pgCluster{bolt, one, two}
	var drops []func() error
	// The nodes are stopped, all at once, before their databases are
	// dropped.
	defer func() {
		var nodes []*child
		for _, c := range clusters {
			nodes = append(nodes, c.nodes...)
		}
		stopAll(nodes, &err)
		for _, drop := range drops {
			if dropErr := drop(); dropErr != nil && err == nil {
				err = dropErr
			}
		}
	}()
	if err := b.startPGNode(ctx, bolt, "pg-bolt", ""); err != nil {
		return r, err
	}
	for _, c := range []*pgCluster{one, two} {
		dbURL, drop, err := createDatabase(ctx, b.opts.postgres)
		if err != nil {
			return r, err
		}
		drops = append(drops, drop)
		c.db = dbName(dbURL)
		nodes := 1
		if c == two {
			nodes = 2
		}
		for range nodes {
			if err := b.startPGNode(ctx, c, fmt.Sprintf("pg-%s-%d", c.db, len(c.nodes)), dbURL); err != nil {
				return r, err
			}
		}
	}
	for _, c := range clusters {
		if err := b.seedPG(ctx, c, r.Docs); err != nil {
			return r, fmt.Errorf("%s: %w", c.name, err)
		}
	}

	var all []*child
	for _, c := range clusters {
		all = append(all, c.nodes...)
	}
	rounds := pgRounds
	if b.opts.quick {
		rounds = 1
	}
	r.Rounds = rounds
	for i, m := range b.pgMeasures() {
		row := pgRow{Name: m.name, Target: m.target}
		results := map[*pgCluster]*result{bolt: &row.Bolt, one: &row.One, two: &row.Two}
		pgCPU := map[*pgCluster]time.Duration{} // total, divided at the end
		// Each round starts on the next cluster, so that none always
		// follows the same one.
		for round := range rounds {
			for k := range clusters {
				c := clusters[(i+round+k)%len(clusters)]
				if !b.opts.quick { // a smoke run's figures mean nothing anyway
					b.settle(ctx, all...)
				}
				res, cpu, err := b.measurePG(ctx, c, m)
				if err != nil {
					return r, fmt.Errorf("%s on %s: %w", m.name, c.name, err)
				}
				b.logFailures(c.name, m.name, res)
				addResult(results[c], res)
				pgCPU[c] += cpu * time.Duration(res.Sent)
			}
		}
		for _, c := range clusters {
			finishResult(results[c])
		}
		if row.One.Sent > 0 {
			row.PGCPUOne = pgCPU[one] / time.Duration(row.One.Sent)
		}
		if row.Two.Sent > 0 {
			row.PGCPUTwo = pgCPU[two] / time.Duration(row.Two.Sent)
		}
		if row.Bolt.RPS > 0 {
			row.RatioOne, row.RatioTwo = row.One.RPS/row.Bolt.RPS, row.Two.RPS/row.Bolt.RPS
		}
		fmt.Fprintf(b.log, "strata-bench: postgres: %-32s bolt %8.0f req/s, PG 1 node %8.0f (%.2f×), 2 nodes %8.0f (%.2f×)\n",
			m.name, row.Bolt.RPS, row.One.RPS, row.RatioOne, row.Two.RPS, row.RatioTwo)
		r.Rows = append(r.Rows, row)
	}
	return r, nil
}

// startPGNode starts a strata node of c, over storage (a postgres URL) or,
// when storage is empty, over a bolt file in its data directory. The
// first node of a cluster defines pgType; a later one is waited for
// until it knows the type from the database.
func (b *bench) startPGNode(ctx context.Context, c *pgCluster, name, storage string) error {
	home := filepath.Join(b.dir, name)
	data := filepath.Join(home, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("strata data dir: %w", err)
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data", data}
	if storage != "" {
		args = append(args, "--storage", storage)
	}
	cmd := exec.Command(b.opts.strata, args...)
	cmd.Dir = home // away from any strata.yaml in the caller's directory
	cmd.Env = b.childEnv()
	n, err := startChild(ctx, c.name+" strata", cmd)
	if err != nil {
		return err
	}
	c.nodes = append(c.nodes, n)
	if len(c.nodes) == 1 {
		status, body, err := b.call(n.addr, fasthttp.MethodPost, "/api/types", pgTypeDefinition())
		if err == nil && status != fasthttp.StatusCreated {
			err = fmt.Errorf("status %d: %s", status, body)
		}
		if err != nil {
			return fmt.Errorf("define type %s: %w", pgType, err)
		}
		return nil
	}
	return b.poll(ctx, "node "+n.addr+" to know type "+pgType, func() (bool, error) {
		status, body, err := b.call(n.addr, fasthttp.MethodGet, "/api/"+pgType+"?limit=1", nil)
		switch {
		case err != nil:
			return false, err
		case status == fasthttp.StatusOK:
			return true, nil
		case status == fasthttp.StatusNotFound:
			return false, nil
		}
		return false, fmt.Errorf("status %d: %s", status, body)
	})
}

// seedPG creates n documents in c, spread over its nodes, keeps their ids
// and waits until a count on every node finds them all, so every node's
// index has them before the reads.
func (b *bench) seedPG(ctx context.Context, c *pgCluster, n int) error {
	fmt.Fprintf(b.log, "strata-bench: postgres: %s: creating %d documents\n", c.name, n)
	res, err := runLoad(ctx, load{addrs: c.addrs(), auth: b.auth(), clients: b.opts.concurrency, count: n,
		build: func(w *worker, req *fasthttp.Request) { b.fillCreate(w, req, pgType) }, check: collectID})
	if err != nil {
		return err
	}
	if res.Errors > 0 {
		return fmt.Errorf("seed documents: %d of %d failed: %s", res.Errors, res.Sent, strings.Join(res.samples, "; "))
	}
	c.ids = res.ids
	path := "/api/" + pgType + "/count?filter=" + url.QueryEscape("views >= 0")
	for _, node := range c.nodes {
		err := b.poll(ctx, fmt.Sprintf("node %s to count %d documents", node.addr, n), func() (bool, error) {
			status, body, err := b.call(node.addr, fasthttp.MethodGet, path, nil)
			switch {
			case err != nil:
				return false, err
			case status == fasthttp.StatusServiceUnavailable:
				return false, nil
			case status != fasthttp.StatusOK:
				return false, fmt.Errorf("status %d: %s", status, body)
			}
			return strings.Contains(string(body), `"count":`+strconv.Itoa(n)), nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// stopAll stops nodes concurrently and, if the run went well so far,
// reports the first unclean exit through *err.
func stopAll(nodes []*child, err *error) {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = n.stop() })
	}
	wg.Wait()
	if *err == nil {
		*err = errors.Join(errs...)
	}
}

// poll calls done every 20 ms until it reports true, fails, or pgWait
// passes.
func (b *bench) poll(ctx context.Context, what string, done func() (bool, error)) error {
	deadline := time.Now().Add(pgWait)
	for {
		ok, err := done()
		if err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for %s: not within %v", what, pgWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// measurePG runs measure m on cluster c, the clients spread over its
// nodes, and returns the result, whose ServerCPU sums the nodes', and the
// CPU time per request of the PostgreSQL backends serving c's database.
func (b *bench) measurePG(ctx context.Context, c *pgCluster, m pgMeasure) (result, time.Duration, error) {
	l := load{addrs: c.addrs(), auth: b.auth(), clients: b.opts.concurrency, warmup: b.opts.warmup, duration: b.opts.duration,
		build: func(w *worker, req *fasthttp.Request) { m.build(c, w, req) }}
	nodesCPU := func() (time.Duration, error) {
		var sum time.Duration
		for _, n := range c.nodes {
			t, err := cpuTime(n.pid())
			if err != nil {
				return 0, err
			}
			sum += t
		}
		return sum, nil
	}
	var pgBefore map[int]time.Duration
	var pgErr error
	if c.db != "" {
		pgBefore, pgErr = b.backendCPU(ctx, c.db)
	}
	before, errBefore := nodesCPU()
	res, err := runLoad(ctx, l)
	if err != nil {
		return res, 0, err
	}
	after, errAfter := nodesCPU()
	if errBefore == nil && errAfter == nil && res.Sent > 0 {
		res.ServerCPU = (after - before) / time.Duration(res.Sent)
	}
	var pgCPU time.Duration
	if c.db != "" && pgErr == nil && res.Sent > 0 {
		pgAfter, err := b.backendCPU(ctx, c.db)
		if err == nil {
			var used time.Duration
			for pid, t := range pgAfter {
				used += t - pgBefore[pid] // a backend started meanwhile counts whole
			}
			pgCPU = used / time.Duration(res.Sent)
		}
	}
	return res, pgCPU, nil
}

// backendCPU returns the CPU time so far of each PostgreSQL backend
// connected to database db, by process id. It leaves out the server's
// shared processes (WAL writer, checkpointer), which work for every
// database on the server.
func (b *bench) backendCPU(ctx context.Context, db string) (map[int]time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, b.opts.postgres)
	if err != nil {
		return nil, fmt.Errorf("backends of %s: %w", db, err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "select pid from pg_stat_activity where datname = $1", db)
	if err != nil {
		return nil, fmt.Errorf("backends of %s: %w", db, err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, fmt.Errorf("backends of %s: %w", db, err)
	}
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		t, err := cpuTime(int(pid))
		if err == nil { // else it exited, or runs on another machine
			out[int(pid)] = t
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("backends of %s: none readable in /proc (a server on another machine?)", db)
	}
	return out, nil
}

// pingPostgres connects to the administrative URL once.
func pingPostgres(ctx context.Context, admin string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// createDatabase creates an empty database with a random name through
// the administrative URL and returns its URL and a function that drops it
// (forcing its connections closed), even once ctx is done.
func createDatabase(ctx context.Context, admin string) (string, func() error, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, fmt.Errorf("-postgres: %w", err)
	}
	var raw [8]byte
	_, _ = rand.Read(raw[:])
	name := "strata_bench_" + hex.EncodeToString(raw[:])
	run := func(ctx context.Context, sql string) error {
		ctx, cancel := context.WithTimeout(ctx, time.Minute) // hang guard
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	ident := pgx.Identifier{name}.Sanitize()
	if err := run(ctx, "create database "+ident); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func() error {
		if err := run(context.Background(), "drop database if exists "+ident+" with (force)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// dbName is the database of a postgres URL.
func dbName(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// redactURL is u with any password replaced.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// errors lists the measures of the run that failed too many requests.
func (r pgResult) errors() []string {
	var bad []string
	for _, x := range r.Rows {
		for _, s := range []struct {
			on  string
			res result
		}{{"bolt", x.Bolt}, {"PostgreSQL, 1 node", x.One}, {"PostgreSQL, 2 nodes", x.Two}} {
			if s.res.errorRate() > maxErrorRate {
				bad = append(bad, fmt.Sprintf("%s on %s: %d of %d requests failed", x.Name, s.on, s.res.Errors, s.res.Sent))
			}
		}
	}
	return bad
}

// writePostgres writes the PostgreSQL section.
func writePostgres(b *strings.Builder, r pgResult) {
	fmt.Fprintf(b, "\n### PostgreSQL: one node and two nodes against bbolt\n\n")
	if r.Skipped != "" {
		fmt.Fprintf(b, "Skipped: %s.\n", r.Skipped)
		return
	}
	ratio := func(x float64) string { return fmt.Sprintf("%.2f×", x) }
	three := func(f func(result) string, x pgRow) string {
		return f(x.Bolt) + " / " + f(x.One) + " / " + f(x.Two)
	}
	p50 := func(r result) string { return fmtLatency(r.P50) }
	p99 := func(r result) string { return fmtLatency(r.P99) }
	cpu := func(r result) string { return fmtLatency(r.ServerCPU) }
	errs := func(r result) string { return fmt.Sprint(r.Errors) }
	pgCPU := func(d time.Duration) string {
		if d == 0 {
			return "?"
		}
		return fmtLatency(d)
	}
	rows := [][]string{{"PostgreSQL measure", "Clients", "bbolt req/s", "PG 1 node req/s", "1 node ÷ bbolt", "Target", "Result",
		"PG 2 nodes req/s", "2 nodes ÷ bbolt", "p50 bolt / 1 / 2", "p99 bolt / 1 / 2", "Strata CPU/req bolt / 1 / 2",
		"PostgreSQL CPU/req 1 / 2", "Errors bolt/1/2"}}
	for _, x := range r.Rows {
		rows = append(rows, []string{x.Name, fmt.Sprint(r.Clients), fmtCount(x.Bolt.RPS), fmtCount(x.One.RPS), ratio(x.RatioOne),
			fmt.Sprintf("≥ %.1f×", x.Target), x.verdict(), fmtCount(x.Two.RPS), ratio(x.RatioTwo),
			three(p50, x), three(p99, x), three(cpu, x), pgCPU(x.PGCPUOne) + " / " + pgCPU(x.PGCPUTwo),
			strings.ReplaceAll(three(errs, x), " ", "")})
	}
	writeTable(b, "lrrrrllrrrrrrr", rows)
	fmt.Fprintf(b, "\nThree clusters up at once on this machine: one bbolt node, one node over a fresh PostgreSQL database "+
		"and two nodes sharing another (%s; the databases are dropped at the end). Each holds %s documents of type %q "+
		"(title and body searched) before the reads; the creates come last. Each measure runs in %d round(s), a round on each of the three in turn, each round starting "+
		"on the next one (req/s over all rounds; p50 and p99 the largest of the rounds'); the clients are spread over a cluster's nodes (client i on node i mod n), as a balancer "+
		"spreads connections. Reads use the default strong consistency. The targets concern the one-node ratios; "+
		"Strata CPU/req sums the cluster's nodes; PostgreSQL CPU/req is that of the backends serving the cluster's database "+
		"(the server's shared processes, such as the WAL writer, are left out).\n",
		r.Server, fmtCount(float64(r.Docs)), pgType, r.Rounds)
	fmt.Fprintf(b, "\nTwo nodes on this machine share its cores with PostgreSQL and the load generator, so their column cannot show "+
		"scale-out: it shows what a second node over the same database costs when nothing is added to run it (each node "+
		"indexes every write of the cluster, and the cores are split between two processes). "+
		"The CPU per request is what projects a real cluster, where each node and the database have cores of their own:\n\n")
	proj := [][]string{{"Projection (2-node run)", "Strata CPU/req (both nodes)", "req/s per Strata core", "PostgreSQL CPU/req", "req/s per PostgreSQL core"}}
	for _, x := range r.Rows {
		perCore := func(d time.Duration) string {
			if d <= 0 {
				return "?"
			}
			return fmtCount(float64(time.Second) / float64(d))
		}
		proj = append(proj, []string{x.Name, fmtLatency(x.Two.ServerCPU), perCore(x.Two.ServerCPU), pgCPU(x.PGCPUTwo), perCore(x.PGCPUTwo)})
	}
	writeTable(b, "lrrrr", proj)
	fmt.Fprintf(b, "\nReads: N nodes of k cores each serve up to about N·k times the req/s per Strata core, until the database's cores, "+
		"at the req/s per PostgreSQL core each, are the limit. A search finds its page in the node's own index "+
		"(a strong read waits only for what the node has seen), a plain list by an administrator, as here, in the database's order keys "+
		"(a principal who reads only their own resources is listed from the index), and both read the page's resources from the database, "+
		"so they scale with the nodes as far as the database's share of their CPU allows. Writes do not scale with the nodes: every write transaction of the cluster "+
		"takes one advisory lock (so change-log seqs are gap-free in commit order), so the cluster commits one group at a time, whichever "+
		"node sends it, and the create row's per-core figures are a bound the lock keeps it under; more nodes only add index work, since "+
		"every node indexes every create.\n")
}
