package server_test

import (
	"net/http"
	"strconv"
	"testing"
)

// TestStrataSeq: every answer of a write carries the change-log seq it
// committed as Strata-Seq, one that committed nothing carries none, and a
// request sending a seq back (header or cookie) is served once the node
// has seen it; on one node, at once. A malformed seq is a 400.
func TestStrataSeq(t *testing.T) {
	ts := newTestServer(t)
	created := ts.must(http.StatusCreated, "POST", "/api/types", `{"name":"notes","schema":{"type":"object","properties":{"k":{"type":"integer"}}},"unique":["k"]}`)
	seqOf := func(r response) uint64 {
		t.Helper()
		n, err := strconv.ParseUint(r.Header.Get("Strata-Seq"), 10, 64)
		if err != nil {
			t.Fatalf("Strata-Seq %q: %v", r.Header.Get("Strata-Seq"), err)
		}
		return n
	}
	first := seqOf(created)
	one := ts.must(http.StatusCreated, "POST", "/api/notes", `{"k":1}`)
	batch := ts.must(http.StatusOK, "POST", "/api/batch",
		`{"requests":[{"method":"POST","url":"/api/notes","body":{"k":2}},{"method":"POST","url":"/api/notes","body":{"k":3}}]}`)
	if a, b, c := first, seqOf(one), seqOf(batch); b != a+1 || c != b+2 {
		t.Fatalf("Strata-Seq of a type, a create and a batch of two: %d, %d, %d", a, b, c)
	}
	tests := []struct {
		name    string
		method  string
		path    string
		body    string
		headers []string
		status  int
		seq     bool // the answer carries Strata-Seq
	}{
		{"conflict commits nothing", "POST", "/api/notes", `{"k":1}`, nil, http.StatusConflict, false},
		{"read carries none", "GET", "/api/notes", "", nil, http.StatusOK, false},
		{"seen seq by header", "GET", "/api/notes?filter=k%20%3E%200", "", []string{"Strata-Seq", strconv.FormatUint(seqOf(batch), 10)}, http.StatusOK, false},
		{"seen seq by cookie", "GET", "/api/notes/count", "", []string{"Cookie", "strata_seq=" + strconv.FormatUint(seqOf(batch), 10)}, http.StatusOK, false},
		{"write after a seq", "POST", "/api/notes", `{"k":4}`, []string{"Strata-Seq", "1"}, http.StatusCreated, true},
		{"malformed seq", "GET", "/api/notes", "", []string{"Strata-Seq", "soon"}, http.StatusBadRequest, false},
		{"negative seq", "GET", "/api/notes", "", []string{"Strata-Seq", "-1"}, http.StatusBadRequest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.body != "" {
				body = tt.body
			}
			r := ts.must(tt.status, tt.method, tt.path, body, tt.headers...)
			if got := r.Header.Get("Strata-Seq") != ""; got != tt.seq {
				t.Fatalf("Strata-Seq %q, want one: %v", r.Header.Get("Strata-Seq"), tt.seq)
			}
		})
	}
}
