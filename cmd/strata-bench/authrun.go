package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/valyala/fasthttp"
)

// authTarget is the least acceptable ratio of req/s with an API key and a
// role permission in force to req/s of the same requests without auth.
const authTarget = 0.9

// The auth run's two types have the bench's schema. open admits anyone to
// read and create: its requests carry no token. guarded admits only the
// role authRole, which the run's API key holds.
const (
	openType    = typeName + "_open"
	guardedType = typeName + "_guarded"
	authRole    = "bench"
)

// authRow is one kind of request in the auth run.
type authRow struct {
	Name    string  `json:"name"`
	Clients int     `json:"clients"`
	Open    result  `json:"open"`    // public type, no token
	Guarded result  `json:"guarded"` // role permission, API key
	Ratio   float64 `json:"ratio"`   // guarded req/s ÷ open req/s
	Target  float64 `json:"target"`
}

func (r authRow) verdict() string { return verdict(r.Ratio, r.Target) }

// authRun measures creates and reads through an API key and a role
// permission against the same requests on a public type without a token,
// in one fresh Strata, each pair run back to back.
func (b *bench) authRun(ctx context.Context) (rows []authRow, err error) {
	strata, _, err := b.startStrata(ctx, "auth")
	if err != nil {
		return nil, err
	}
	defer stopChild(strata, &err)
	perms := map[string]string{
		openType:    `{"read":["public"],"create":["public"]}`,
		guardedType: `{"read":["role:` + authRole + `"],"create":["role:` + authRole + `"]}`,
	}
	for _, typ := range []string{openType, guardedType} {
		def := strings.TrimSuffix(string(typeDefinition(typ, "")), "}") + `,"permissions":` + perms[typ] + `}`
		status, body, err := b.call(strata.addr, fasthttp.MethodPost, "/api/types", []byte(def))
		if err == nil && status != fasthttp.StatusCreated {
			err = fmt.Errorf("status %d: %s", status, body)
		}
		if err != nil {
			return nil, fmt.Errorf("define %s: %w", typ, err)
		}
	}
	status, body, err := b.call(strata.addr, fasthttp.MethodPost, "/api/keys", []byte(`{"name":"bench","roles":["`+authRole+`"]}`))
	if err == nil && status != fasthttp.StatusCreated {
		err = fmt.Errorf("status %d: %s", status, body)
	}
	if err != nil {
		return nil, fmt.Errorf("create API key: %w", err)
	}
	var key struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &key); err != nil || key.Token == "" {
		return nil, fmt.Errorf("create API key: no token in %s", body)
	}
	if err := b.checkAuthEnforced(strata.addr, key.Token); err != nil {
		return nil, err
	}

	ids := map[string][]string{}
	create := func(typ, auth string) load {
		return load{auth: auth, clients: b.opts.concurrency, warmup: b.opts.warmup, duration: b.opts.duration,
			build: func(w *worker, req *fasthttp.Request) { b.fillCreate(w, req, typ) }, check: collectID}
	}
	get := func(typ, auth string) load {
		l := create(typ, auth)
		l.check = nil
		l.build = func(w *worker, req *fasthttp.Request) {
			req.Header.SetMethod(fasthttp.MethodGet)
			req.SetRequestURIBytes(w.url("/api/", typ, "/", ids[typ][w.rng.IntN(len(ids[typ]))]))
		}
		return l
	}
	bearer := "Bearer " + key.Token
	for i, kind := range []string{"create (durable)", "get by id"} {
		r := authRow{Name: kind, Clients: b.opts.concurrency, Target: authTarget}
		open, guarded := create(openType, ""), create(guardedType, bearer)
		if i == 1 {
			open, guarded = get(openType, ""), get(guardedType, bearer)
		}
		// Alternate which goes first, as the hook run does.
		if r.Open, r.Guarded, err = b.measurePair(ctx, strata, open, guarded, i%2 == 1); err != nil {
			return nil, err
		}
		if i == 0 {
			// The creates' ids are what the reads read.
			for typ, res := range map[string]result{openType: r.Open, guardedType: r.Guarded} {
				if ids[typ] = res.ids; len(ids[typ]) == 0 {
					return nil, fmt.Errorf("auth run: no %s resource was created: %s", typ, strings.Join(res.samples, "; "))
				}
			}
		}
		if r.Open.RPS > 0 {
			r.Ratio = r.Guarded.RPS / r.Open.RPS
		}
		fmt.Fprintf(b.log, "strata-bench: auth %-18s open %8.0f req/s, API key + role %8.0f req/s, ratio %.3f\n",
			kind, r.Open.RPS, r.Guarded.RPS, r.Ratio)
		b.logFailures("strata", kind+" without a token", r.Open)
		b.logFailures("strata", kind+" with an API key", r.Guarded)
		rows = append(rows, r)
	}
	return rows, nil
}

// checkAuthEnforced makes sure the guarded type really is guarded: a
// create without a token is refused, one with the key accepted.
func (b *bench) checkAuthEnforced(addr, token string) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	for _, tc := range []struct {
		auth string
		want int
	}{{"", fasthttp.StatusUnauthorized}, {"Bearer " + token, fasthttp.StatusCreated}} {
		req.Reset()
		resp.Reset()
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI("http://" + addr + "/api/" + guardedType)
		req.Header.SetContentType("application/json")
		if tc.auth != "" {
			req.Header.Set(fasthttp.HeaderAuthorization, tc.auth)
		}
		req.SetBody(appendDoc(nil, rand.New(rand.NewPCG(rand.Uint64(), 0)), b.seq.Add(1)))
		if err := b.setup.DoTimeout(req, resp, requestTimeout); err != nil {
			return fmt.Errorf("auth check: %w", err)
		}
		if resp.StatusCode() != tc.want {
			return fmt.Errorf("auth check: create in %s with auth %v: status %d, want %d: %s",
				guardedType, tc.auth != "", resp.StatusCode(), tc.want, resp.Body())
		}
	}
	return nil
}

// writeAuth writes the auth overhead section.
func writeAuth(b *strings.Builder, rows []authRow) {
	fmt.Fprintf(b, "\n### Authentication overhead: an API key and a role permission\n\n")
	table := [][]string{{"Request", "Clients", "API key req/s", "Open req/s", "Ratio", "Target", "Result",
		"Key p50", "Key p99", "Open p50", "Open p99", "Server CPU/req O/K", "Errors O/K"}}
	for _, r := range rows {
		table = append(table, []string{r.Name, fmt.Sprint(r.Clients), fmtCount(r.Guarded.RPS), fmtCount(r.Open.RPS),
			fmt.Sprintf("%.3f×", r.Ratio), fmt.Sprintf("≥ %.2f×", r.Target), r.verdict(),
			fmtLatency(r.Guarded.P50), fmtLatency(r.Guarded.P99), fmtLatency(r.Open.P50), fmtLatency(r.Open.P99),
			fmtLatency(r.Open.ServerCPU) + " / " + fmtLatency(r.Guarded.ServerCPU), fmt.Sprintf("%d/%d", r.Open.Errors, r.Guarded.Errors)})
	}
	writeTable(b, "lrrrrllrrrrrr", table)
	fmt.Fprintf(b, "\nOne Strata process, two types with the same schema: one whose read and create permissions are public, "+
		"sent no token; one that admits only role:%s, sent an API key holding it (checked first: without the key a create is 401). "+
		"Each pair runs back to back, alternating which goes first. Ratio = API key req/s ÷ open req/s; O/K = open / key.\n", authRole)
}
