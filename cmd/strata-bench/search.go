package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	// indexRateTarget is the least indexing throughput, in documents per
	// second.
	indexRateTarget = 3000
	// lagTarget is the greatest acceptable p99 index lag.
	lagTarget = time.Second
	// queryRatioTarget and queryP50Target are a search query's targets:
	// the least Strata/baseline ratio and the greatest p50.
	queryRatioTarget = 0.1
	queryP50Target   = 10 * time.Millisecond
	// indexSizeTarget is the greatest index size as a multiple of the raw
	// data.
	indexSizeTarget = 2.0

	// lagRate is the lag run's create rate, per second, and lagClients
	// the workers that send them.
	lagRate    = 1000
	lagClients = 128
	// lagSampleEvery makes every lagSampleEvery-th create of the lag run a
	// sample.
	lagSampleEvery = 10
	// lagPollEvery is the lag poller's period, and lagPollBatch the most
	// samples one poll asks about.
	lagPollEvery = 5 * time.Millisecond
	lagPollBatch = 32
	// lagGiveUp is how long the poller waits for a sample before counting
	// it lost.
	lagGiveUp = 10 * time.Second
	// indexWait bounds the wait for the index to count every document.
	indexWait = 5 * time.Minute
)

// searchResult is the outcome of the search run.
type searchResult struct {
	Docs    int    `json:"docs"`
	Clients int    `json:"clients"`
	Create  result `json:"create"` // the bulk creates
	// IndexElapsed runs from the first create until a strong count
	// returned every document; IndexRate is Docs over it.
	IndexElapsed time.Duration `json:"index_elapsed_ns"`
	IndexRate    float64       `json:"index_docs_per_second"`
	// CatchUp runs from the last create's response to that count.
	CatchUp time.Duration `json:"catch_up_ns"`
	Lag     lagResult     `json:"lag"`
	Queries []row         `json:"queries"`
	// RawBytes is the sum of the JSON bodies created; the others are
	// the sizes of <data>/index (files and disk blocks) and of the bolt
	// file, once the queries ran.
	RawBytes int64 `json:"raw_bytes"`
	// Segments is the number of segment files of the index when the
	// queries started, CompactWait how long they waited for it to be
	// compacted.
	Segments       int           `json:"segments"`
	CompactWait    time.Duration `json:"compact_wait_ns"`
	IndexBytes     int64         `json:"index_bytes"`
	IndexAllocated int64         `json:"index_allocated"`
	BoltBytes      int64         `json:"bolt_bytes"`
}

// lagResult is the outcome of the lag run: creates at a fixed rate, some
// of them followed until an eventual list returns them.
type lagResult struct {
	Rate      int           `json:"rate"` // offered creates per second
	Duration  time.Duration `json:"duration_ns"`
	Creates   int           `json:"creates"` // answered 201
	Errors    int           `json:"errors"`  // failed creates and polls
	Achieved  float64       `json:"achieved_rate"`
	CreateP50 time.Duration `json:"create_p50_ns"`
	CreateP99 time.Duration `json:"create_p99_ns"`
	Samples   int           `json:"samples"`
	Lost      int           `json:"lost"` // not listed within lagGiveUp; counted at lagGiveUp
	Polls     int           `json:"polls"`
	P50       time.Duration `json:"p50_ns"`
	P99       time.Duration `json:"p99_ns"`
	Max       time.Duration `json:"max_ns"`
	samples   []string
}

// queryVerdict is a search query's verdict: PASS when both its ratio and its
// p50 meet their targets.
func queryVerdict(r row) string {
	if r.Ratio >= queryRatioTarget && r.Strata.P50 <= queryP50Target {
		return "PASS"
	}
	return "MISS"
}

func (s searchResult) indexVerdict() string { return atLeast(s.IndexRate, indexRateTarget) }
func (s searchResult) lagVerdict() string {
	if s.Lag.Samples > 0 && s.Lag.P99 < lagTarget {
		return "PASS"
	}
	return "MISS"
}
func (s searchResult) sizeVerdict() string {
	return atLeast(indexSizeTarget, float64(s.IndexBytes)/float64(max(s.RawBytes, 1)))
}

func atLeast(x, target float64) string {
	if x >= target {
		return "PASS"
	}
	return "MISS"
}

// searchRun creates opts.searchDocs articles in a fresh Strata and
// measures how fast the index takes them, how far behind it runs under a
// steady write rate, how fast it answers queries next to the baseline,
// and its size. The type is searched once before the creates, so its
// index exists and follows them (a type's index is otherwise built on its
// first search, from storage).
func (b *bench) searchRun(ctx context.Context) (s searchResult, err error) {
	base, err := b.startBaseline(ctx)
	if err != nil {
		return s, err
	}
	defer stopChild(base, &err)
	strata, data, err := b.startStrata(ctx, "search")
	if err != nil {
		return s, err
	}
	defer stopChild(strata, &err)
	if b.writers, err = b.createWriters(strata.addr); err != nil {
		return s, err
	}
	status, body, err := b.call(strata.addr, fasthttp.MethodPost, "/api/types", searchTypeDefinition())
	if err == nil && status != fasthttp.StatusCreated {
		err = fmt.Errorf("status %d: %s", status, body)
	}
	if err != nil {
		return s, fmt.Errorf("define type %s: %w", searchType, err)
	}

	// A first search builds the (empty) index of the type, so the index
	// follows the bulk creates as it does for a type that is searched.
	if err := b.waitCount(ctx, strata.addr, 0); err != nil {
		return s, err
	}

	n := b.opts.searchDocs
	s.Docs, s.Clients = n, b.opts.concurrency
	fmt.Fprintf(b.log, "strata-bench: search run: creating %d articles with %d clients\n", n, s.Clients)
	start := time.Now()
	s.Create, err = measure(ctx, strata, load{auth: b.auth(), clients: s.Clients, count: n, build: b.buildArticle})
	if err != nil {
		return s, err
	}
	created := time.Now()
	b.logFailures("strata", "search run creates", s.Create)
	if err := b.waitCount(ctx, strata.addr, s.Create.Sent-s.Create.Errors); err != nil {
		return s, err
	}
	s.IndexElapsed, s.CatchUp = time.Since(start), time.Since(created)
	s.IndexRate = float64(n) / s.IndexElapsed.Seconds()
	fmt.Fprintf(b.log, "strata-bench: search run: %.0f creates/s, %.0f docs/s indexed, caught up %v after the last create\n",
		s.Create.RPS, s.IndexRate, s.CatchUp.Round(time.Millisecond))

	b.settle(ctx, strata)
	if s.Lag, err = b.lagRun(ctx, strata.addr); err != nil {
		return s, err
	}
	for _, m := range s.Lag.samples {
		fmt.Fprintf(b.log, "strata-bench: search run: lag run failed: %s\n", m)
	}
	fmt.Fprintf(b.log, "strata-bench: search run: index lag p50 %v, p99 %v over %d samples\n", s.Lag.P50, s.Lag.P99, s.Lag.Samples)

	// The queries run on the index at rest: Strata compacts an index a
	// few seconds after its last write.
	s.Segments, s.CompactWait = b.waitCompacted(ctx, filepath.Join(data, "index", "types", searchType))
	fmt.Fprintf(b.log, "strata-bench: search run: %d index segments after %v\n", s.Segments, s.CompactWait.Round(time.Millisecond))

	for _, sc := range b.searchScenarios() {
		r, err := b.runScenario(ctx, sc, base, strata)
		if err != nil {
			return s, fmt.Errorf("%s: %w", sc.name, err)
		}
		s.Queries = append(s.Queries, r)
	}

	s.RawBytes = b.articleBytes.Load()
	if s.IndexBytes, s.IndexAllocated, err = dirSize(filepath.Join(data, "index")); err != nil {
		return s, err
	}
	if info, err := os.Stat(filepath.Join(data, "strata.db")); err == nil {
		s.BoltBytes = info.Size()
	}
	return s, nil
}

// buildArticle fills in the durable create of a new article and adds its
// size to b.articleBytes.
func (b *bench) buildArticle(w *worker, req *fasthttp.Request) {
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(w.url("/api/", searchType))
	req.Header.SetContentType("application/json")
	n := b.articles.Add(1)
	plant := ""
	switch {
	case n%int64(max(b.opts.searchDocs/rareWordArticles, 1)) == 0:
		plant = rareWord
	case w.rng.IntN(commonWordEvery) == 0:
		plant = commonWord
	}
	if n == int64(b.opts.searchDocs/2) {
		b.middle.Store(time.Now().UnixNano())
	}
	w.body = appendArticle(w.body[:0], b.vocab, w.rng, b.seq.Add(1), plant, b.writers)
	b.articleBytes.Add(int64(len(w.body)))
	req.SetBodyRaw(w.body)
}

// createWriters defines writerType and creates writerCount writers, and
// returns their ids.
func (b *bench) createWriters(addr string) ([]string, error) {
	status, body, err := b.call(addr, fasthttp.MethodPost, "/api/types", writerTypeDefinition())
	if err == nil && status != fasthttp.StatusCreated {
		err = fmt.Errorf("status %d: %s", status, body)
	}
	if err != nil {
		return nil, fmt.Errorf("define type %s: %w", writerType, err)
	}
	ids := make([]string, 0, writerCount)
	for i := range writerCount {
		doc := fmt.Appendf(nil, `{"name":"writer %d","bio":"%s"}`, i, b.vocab.appendWords(nil, rand.New(rand.NewPCG(uint64(i), 1)), 20))
		status, body, err := b.call(addr, fasthttp.MethodPost, "/api/"+writerType, doc)
		if err == nil && status != fasthttp.StatusCreated {
			err = fmt.Errorf("status %d: %s", status, body)
		}
		if err != nil {
			return nil, fmt.Errorf("create a writer: %w", err)
		}
		id, ok := envelopeID(body)
		if !ok {
			return nil, fmt.Errorf("create a writer: no id in %s", body)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// waitCount asks for the strong count of articles with views ≥ 0 until it
// is want, retrying a 503 (the index took over 5 s to catch up).
func (b *bench) waitCount(ctx context.Context, addr string, want int) error {
	path := "/api/" + searchType + "/count?filter=" + url.QueryEscape("views >= 0")
	deadline := time.Now().Add(indexWait)
	for {
		status, body, err := b.call(addr, fasthttp.MethodGet, path, nil)
		if err != nil {
			return fmt.Errorf("count articles: %w", err)
		}
		switch status {
		case fasthttp.StatusOK:
			var c struct{ Count int }
			if err := json.Unmarshal(body, &c); err != nil {
				return fmt.Errorf("count articles: %w", err)
			}
			if c.Count >= want {
				return nil
			}
		case fasthttp.StatusServiceUnavailable:
		default:
			return fmt.Errorf("count articles: status %d: %s", status, body)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("count articles: fewer than %d after %v", want, indexWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// lagSample is a create the lag poller follows.
type lagSample struct {
	id string
	at time.Time // when the 201 arrived
}

// lagRun creates articles at lagRate for opts.lagDuration, from
// lagClients workers fed by one pacer, and follows every lagSampleEvery-th
// one from its 201 until a list with consistency=eventual returns it.
func (b *bench) lagRun(ctx context.Context, addr string) (lagResult, error) {
	res := lagResult{Rate: lagRate, Duration: b.opts.lagDuration}
	fmt.Fprintf(b.log, "strata-bench: search run: %d creates/s for %v, following every %dth until listed\n",
		lagRate, res.Duration, lagSampleEvery)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	total := int(res.Duration.Seconds() * lagRate)
	jobs := make(chan uint64, lagRate) // sequence numbers in the run
	samples := make(chan lagSample, total/lagSampleEvery+1)
	var mu sync.Mutex // guards res.Creates, res.Errors, res.samples and latencies
	var latencies []time.Duration
	fail := func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		res.Errors++
		if len(res.samples) < maxErrorSamples {
			res.samples = append(res.samples, msg)
		}
	}

	var workers sync.WaitGroup
	for range lagClients {
		workers.Go(func() {
			w := newWorker(addr, rand.Uint64())
			defer w.hc.CloseIdleConnections()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for n := range jobs {
				req.Reset()
				resp.Reset()
				b.buildArticle(w, req)
				req.Header.Set(fasthttp.HeaderAuthorization, b.auth())
				t0 := time.Now()
				err := w.hc.Do(req, resp)
				at := time.Now()
				if err != nil || resp.StatusCode() != fasthttp.StatusCreated {
					fail(describeFailure(req, resp, err))
					continue
				}
				mu.Lock()
				res.Creates++
				latencies = append(latencies, at.Sub(t0))
				mu.Unlock()
				if n%lagSampleEvery == 0 {
					if id, ok := envelopeID(resp.Body()); ok {
						samples <- lagSample{id: id, at: at}
					}
				}
			}
		})
	}

	var lags []time.Duration
	var lost, polls int
	poller := make(chan struct{})
	go func() {
		defer close(poller)
		lags, lost, polls = b.pollLag(ctx, addr, samples, fail)
	}()

	start := time.Now()
	pace(ctx, jobs, total, lagRate, func(i int) uint64 { return uint64(i) })
	workers.Wait()
	elapsed := time.Since(start)
	close(samples)
	<-poller
	if err := ctx.Err(); err != nil {
		return res, err
	}

	res.Achieved = float64(res.Creates) / elapsed.Seconds()
	slices.Sort(latencies)
	res.CreateP50, res.CreateP99 = percentile(latencies, 50), percentile(latencies, 99)
	slices.Sort(lags)
	res.Samples, res.Lost, res.Polls = len(lags), lost, polls
	res.P50, res.P99 = percentile(lags, 50), percentile(lags, 99)
	if len(lags) > 0 {
		res.Max = lags[len(lags)-1]
	}
	return res, nil
}

// pollLag follows samples until the channel is closed and every sample is
// listed or lost: every lagPollEvery, one list with consistency=eventual
// asks for up to lagPollBatch of the oldest pending ids; a sample's lag
// runs from its 201 to the response that listed it. A lost sample counts
// with a lag of lagGiveUp. It returns the lags, the number lost and the
// number of polls.
func (b *bench) pollLag(ctx context.Context, addr string, samples <-chan lagSample, fail func(string)) (lags []time.Duration, lost, polls int) {
	var pending []lagSample
	tick := time.NewTicker(lagPollEvery)
	defer tick.Stop()
	open := true
	for open || len(pending) > 0 {
		if len(pending) == 0 {
			select {
			case <-ctx.Done():
				return lags, lost, polls
			case s, ok := <-samples:
				if !ok {
					return lags, lost, polls
				}
				pending = append(pending, s)
			}
		}
	drain:
		for open {
			select {
			case s, ok := <-samples:
				if !ok {
					open = false
					break drain
				}
				pending = append(pending, s)
			default:
				break drain
			}
		}

		batch := pending[:min(len(pending), lagPollBatch)]
		terms := make([]string, len(batch))
		for i, s := range batch {
			terms[i] = `id = "` + s.id + `"`
		}
		path := fmt.Sprintf("/api/%s?consistency=eventual&limit=%d&filter=%s",
			searchType, len(batch), url.QueryEscape(strings.Join(terms, " || ")))
		status, body, err := b.call(addr, fasthttp.MethodGet, path, nil)
		now := time.Now()
		polls++
		if err == nil && status != fasthttp.StatusOK {
			err = fmt.Errorf("status %d: %s", status, body)
		}
		var page struct {
			Items []struct{ ID string }
		}
		if err == nil {
			err = json.Unmarshal(body, &page)
		}
		if err != nil {
			fail(fmt.Sprintf("poll: %v", err))
		}
		listed := map[string]bool{}
		for _, it := range page.Items {
			listed[it.ID] = true
		}
		pending = slices.DeleteFunc(pending, func(s lagSample) bool {
			switch {
			case listed[s.id]:
				lags = append(lags, now.Sub(s.at))
			case now.Sub(s.at) > lagGiveUp:
				lags = append(lags, lagGiveUp)
				lost++
			default:
				return false
			}
			return true
		})

		select {
		case <-ctx.Done():
			return lags, lost, polls
		case <-tick.C:
		}
	}
	return lags, lost, polls
}

// searchScenarios are the query rows of the search run, each a page of
// pageSize from the articles, with strong consistency.
func (b *bench) searchScenarios() []scenario {
	list := func(w *worker, req *fasthttp.Request, query string) {
		req.Header.SetMethod(fasthttp.MethodGet)
		req.SetRequestURIBytes(w.url("/api/", searchType, "?limit=", strconv.Itoa(pageSize), "&", query))
	}
	filter := func(f string) string { return "filter=" + url.QueryEscape(f) }
	q := func(w *worker) string {
		return "q=" + url.QueryEscape(b.vocab.queryWord(w.rng)+" "+b.vocab.queryWord(w.rng))
	}
	tagFilter := func(w *worker) string { return filter(`tags ?= "` + tags[w.rng.IntN(len(tags))] + `"`) }
	return []scenario{
		{name: "filter: tags ?= tag", target: queryRatioTarget, build: func(w *worker, req *fasthttp.Request) {
			list(w, req, tagFilter(w))
		}},
		{name: "range + sort=-views", target: queryRatioTarget, build: func(w *worker, req *fasthttp.Request) {
			lo := w.rng.IntN(maxViews - maxViews/100)
			list(w, req, filter(fmt.Sprintf("views >= %d && views < %d", lo, lo+maxViews/100))+"&sort=-views")
		}},
		{name: "q: two words", target: queryRatioTarget, build: func(w *worker, req *fasthttp.Request) {
			list(w, req, q(w))
		}},
		{name: "q + filter: published ≥ date", target: queryRatioTarget, build: func(w *worker, req *fasthttp.Request) {
			since := randomTime(w.rng).Format(time.RFC3339)
			list(w, req, q(w)+"&"+filter(`published >= "`+since+`"`))
		}},
		// The read side's own targets (absolute, or against another row).
		{name: readPlainList, minRPS: plainListTarget, build: func(w *worker, req *fasthttp.Request) {
			list(w, req, "")
		}},
		{name: "q: a word in 1% of articles", minRPS: commonQTarget, build: func(w *worker, req *fasthttp.Request) {
			list(w, req, "q="+commonWord)
		}},
		{name: "filter: body ~ a word in 1%", minRPS: commonContainsTarget, build: func(w *worker, req *fasthttp.Request) {
			list(w, req, filter(`body ~ "`+commonWord+`"`))
		}},
		{name: "filter: body ~ a word in 10 articles", minRPS: rareContainsTarget, build: func(w *worker, req *fasthttp.Request) {
			list(w, req, filter(`body ~ "`+rareWord+`"`))
		}},
		{name: "sort=body", target: queryRatioTarget, build: func(w *worker, req *fasthttp.Request) {
			list(w, req, "sort=body")
		}},
		{name: "tags ?= tag + facets=category (10 values)", versus: "filter: tags ?= tag", maxCost: facetCostTarget, build: func(w *worker, req *fasthttp.Request) {
			list(w, req, tagFilter(w)+"&facets=category")
		}},
		{name: "tags ?= tag + facets=tags (array)", versus: "filter: tags ?= tag", maxCost: facetCostTarget, build: func(w *worker, req *fasthttp.Request) {
			list(w, req, tagFilter(w)+"&facets=tags")
		}},
		{name: "list page of 20 + expand=writer", versus: readPlainList, maxCost: expandCostTarget, build: func(w *worker, req *fasthttp.Request) {
			list(w, req, "expand=writer")
		}},
		{name: "list as_of the middle of the history", build: func(w *worker, req *fasthttp.Request) {
			list(w, req, "as_of="+url.QueryEscape(time.Unix(0, b.middle.Load()).UTC().Format(time.RFC3339Nano)))
		}},
	}
}

// The read side's targets at 100,000 articles: req/s for a plain page, a
// common word with q, and ~ on the long body for a word in 1% of the
// articles and in ten of them; facets and expand at most this many times
// the time of the same list without them.
const (
	readPlainList        = "list page of 20"
	plainListTarget      = 18_000
	commonQTarget        = 8_000
	commonContainsTarget = 4_000
	rareContainsTarget   = 12_000
	facetCostTarget      = 2.0
	expandCostTarget     = 2.0
)

// searchVerdicts judges every query row: against its absolute req/s
// target, against the row it is paired with (versus: its time at most
// maxCost times that row's), or by the ratio and p50 of queryVerdict.
// It returns each row's target text and verdict, by name.
func searchVerdicts(rows []row, scs []scenario) (target, verdict map[string]string) {
	target, verdict = map[string]string{}, map[string]string{}
	rps := map[string]float64{}
	for _, r := range rows {
		rps[r.Name] = r.Strata.RPS
	}
	for _, r := range rows {
		i := slices.IndexFunc(scs, func(sc scenario) bool { return sc.name == r.Name })
		var sc scenario
		if i >= 0 {
			sc = scs[i]
		}
		switch {
		case sc.minRPS > 0:
			target[r.Name] = fmt.Sprintf("≥ %s req/s", fmtCount(sc.minRPS))
			verdict[r.Name] = atLeast(r.Strata.RPS, sc.minRPS)
		case sc.versus != "":
			target[r.Name] = fmt.Sprintf("time ≤ %.0f× %q", sc.maxCost, sc.versus)
			base, ok := rps[sc.versus]
			switch {
			case !ok || base == 0:
				verdict[r.Name] = "—"
			default:
				cost := base / max(r.Strata.RPS, 1e-9)
				target[r.Name] += fmt.Sprintf(" (%.2f×)", cost)
				verdict[r.Name] = atLeast(sc.maxCost, cost)
			}
		case sc.target > 0:
			target[r.Name] = fmt.Sprintf("≥ %.2f×, p50 ≤ %s", queryRatioTarget, fmtLatency(queryP50Target))
			verdict[r.Name] = queryVerdict(r)
		default:
			target[r.Name], verdict[r.Name] = "—", "—"
		}
	}
	return target, verdict
}

// compactedSegments is the most segment files an index at rest has once
// compacted (one per size tier), and compactGiveUp how long the queries
// wait for it.
const (
	compactedSegments = 3
	compactGiveUp     = 90 * time.Second
)

// waitCompacted waits until the index under dir has at most
// compactedSegments segment files, or compactGiveUp, and returns the
// number it has and the time waited.
func (b *bench) waitCompacted(ctx context.Context, dir string) (int, time.Duration) {
	start := time.Now()
	for {
		n := 0
		_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && filepath.Ext(path) == ".zap" {
				n++
			}
			return nil
		})
		if n <= compactedSegments || time.Since(start) > compactGiveUp || ctx.Err() != nil {
			return n, time.Since(start)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
