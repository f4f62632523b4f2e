package server_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/strata-dev/strata/auth"
)

const testMetricsToken = "metrics-token-0123456789"

// scrape reads /metrics with the given Authorization and parses it with
// Prometheus's own text parser.
func scrape(t *testing.T, ts *testServer, authz string) map[string]*dto.MetricFamily {
	t.Helper()
	r := ts.must(200, "GET", "/metrics", nil, "Authorization", authz)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, r.Body)
	}
	return fams
}

// value is the value of the series of family name whose labels include
// want, and how many series matched.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, int) {
	f := fams[name]
	if f == nil {
		return 0, 0
	}
	var sum float64
	n := 0
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		n++
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, n
}

// TestMetrics scrapes /metrics over HTTP and checks that every metric
// SPEC §9 names is there, that the counters move with requests and hook
// calls, that routes are labelled by template (a thousand ids are one
// series), and who may read it.
func TestMetrics(t *testing.T) {
	t.Parallel()
	ts := startTestServerAuth(t, t.TempDir(), auth.Config{AdminKey: testAdminKey, MetricsToken: testMetricsToken})
	ts.putHook("titles", exampleModule(t, "wat"))
	ts.defineType(hookedType("posts", "titles", "validate"))
	ts.defineType(`{"name":"notes","schema":{"type":"object","properties":{"title":{"type":"string"}}},"search":["title"]}`)
	id := ts.must(201, "POST", "/api/posts", `{"title":"Hello"}`).JSON(t)["id"].(string)
	ts.must(201, "POST", "/api/notes", `{"title":"indexed"}`)
	ts.must(200, "GET", "/api/notes?q=indexed", nil) // builds the index of notes
	if err := ts.env.Index.WaitFor(t.Context(), ts.m.LastSeq(), time.Minute); err != nil {
		t.Fatal(err)
	}

	before := scrape(t, ts, "Bearer "+testAdminKey)
	getOne := map[string]string{"route": "/api/:type/:id", "method": "GET", "status": "200"}
	hookOK := map[string]string{"hook": "titles", "stage": "validate", "outcome": "ok"}
	hookRejected := map[string]string{"hook": "titles", "stage": "validate", "outcome": "rejected"}
	gets0, _ := value(before, "strata_http_requests_total", getOne)
	ok0, _ := value(before, "strata_hook_calls_total", hookOK)
	rej0, _ := value(before, "strata_hook_calls_total", hookRejected)
	if ok0 != 1 {
		t.Fatalf("hook calls ok before: %v", ok0)
	}

	ts.must(200, "GET", "/api/posts/"+id, nil)
	for i := range 1000 {
		ts.must(404, "GET", "/api/posts/missing-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+strings.Repeat("y", i/26), nil)
	}
	ts.must(201, "POST", "/api/posts", `{"title":"Again"}`)
	checkProblem(t, ts.do("POST", "/api/posts", `{"title":"STOP SHOUTING"}`), 422, "validation")

	// The metrics token reads /metrics too.
	after := scrape(t, ts, "Bearer "+testMetricsToken)
	if gets, _ := value(after, "strata_http_requests_total", getOne); gets != gets0+1 {
		t.Errorf("GET /api/:type/:id 200: %v, want %v", gets, gets0+1)
	}
	// A thousand ids, one series.
	if v, n := value(after, "strata_http_requests_total", map[string]string{"route": "/api/:type/:id", "method": "GET", "status": "404"}); n != 1 || v != 1000 {
		t.Errorf("404s: %v in %d series, want 1000 in 1", v, n)
	}
	for _, m := range after["strata_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && strings.Contains(l.GetValue(), "missing") {
				t.Fatalf("a raw path as a route label: %s", l.GetValue())
			}
		}
	}
	if v, _ := value(after, "strata_hook_calls_total", hookOK); v != ok0+1 {
		t.Errorf("hook ok calls %v, want %v", v, ok0+1)
	}
	if v, _ := value(after, "strata_hook_calls_total", hookRejected); v != rej0+1 {
		t.Errorf("hook rejected calls %v, want %v", v, rej0+1)
	}
	if v, _ := value(after, "strata_hook_duration_seconds", map[string]string{"hook": "titles"}); v < 3 {
		t.Errorf("hook durations observed: %v", v)
	}
	if v, _ := value(after, "strata_http_request_duration_seconds", map[string]string{"route": "/api/:type/:id", "method": "GET"}); v < 1001 {
		t.Errorf("request durations observed: %v", v)
	}
	if v, _ := value(after, "strata_changelog_seq", nil); v != float64(ts.m.LastSeq()) {
		t.Errorf("strata_changelog_seq %v, want %d", v, ts.m.LastSeq())
	}
	if _, n := value(after, "strata_consumer_lag_changes", map[string]string{"consumer": "search-index"}); n != 1 {
		t.Errorf("no consumer lag of the search index")
	}
	if _, n := value(after, "strata_index_lag_changes", map[string]string{"type": "notes"}); n != 1 {
		t.Errorf("no index lag of notes: %v", after["strata_index_lag_changes"])
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "go_memstats_heap_alloc_bytes"} {
		if after[name] == nil {
			t.Errorf("no %s", name)
		}
	}

	// Who may read it.
	checkProblem(t, ts.do("GET", "/metrics", nil, "Authorization", ""), 401, "unauthorized")
	reader := ts.must(201, "POST", "/api/keys", map[string]any{"name": "reader", "roles": []string{"reader"}}).JSON(t)["token"].(string)
	checkProblem(t, ts.do("GET", "/metrics", nil, "Authorization", "Bearer "+reader), 403, "forbidden")
	// The metrics token is nothing more: it is anonymous to the API.
	checkProblem(t, ts.do("GET", "/api/posts/"+id, nil, "Authorization", "Bearer "+testMetricsToken), 401, "unauthorized")
}
