package server_test

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/server"
)

// BenchmarkRequestMetrics measures what counting a request costs: a read
// of one resource through the app's handler, in process (no network), with
// request metrics off and on. The difference per op is the middleware's
// CPU; the ratio is the overhead against the cheapest real request.
func BenchmarkRequestMetrics(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			env := apptest.New(b, apptest.WithMemoryStore())
			ctx := core.AsSystem(b.Context())
			def := core.Type{Name: "docs", Schema: []byte(`{"type":"object"}`), Permissions: map[string][]string{"read": {"public"}}}
			if _, err := env.Manager.CreateType(ctx, def); err != nil {
				b.Fatal(err)
			}
			res, err := env.Manager.Create(ctx, "docs", []byte(benchDoc), core.WriteOptions{})
			if err != nil {
				b.Fatal(err)
			}
			o := server.Options{RateLimit: server.RateLimit{IPRate: -1, PrincipalRate: -1}}
			if on {
				o.Metrics = server.NewMetrics()
			}
			h := server.New(env.Manager, o).NewApp().Handler()
			var rc fasthttp.RequestCtx
			rc.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
			uri := "/api/docs/" + res.ID
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rc.Request.Reset()
				rc.Response.Reset()
				rc.ResetUserValues()
				rc.Request.SetRequestURI(uri)
				h(&rc)
				if rc.Response.StatusCode() != 200 {
					b.Fatalf("status %d: %s", rc.Response.StatusCode(), rc.Response.Body())
				}
			}
		})
	}
}
