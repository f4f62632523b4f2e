package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/strata-dev/strata/server"
)

// hardeningConfig holds the limits on what one client may send: request
// rates, CORS, JSON nesting, header size and slow connections. Its file
// keys are flat, like body_limit; each also has a flag and a STRATA_*
// variable (envSettings). The fields mirror server.Options.
type hardeningConfig struct {
	// RateLimitIP is the sustained requests per second of one client
	// address; RateLimitIPBurst how many it may send at once (0: twice the
	// rate). A negative value turns the limit off.
	RateLimitIP      float64 `json:"rate_limit_ip"`
	RateLimitIPBurst int     `json:"rate_limit_ip_burst"`
	// RateLimitPrincipal and RateLimitPrincipalBurst are the same per
	// authenticated principal.
	RateLimitPrincipal      float64 `json:"rate_limit_principal"`
	RateLimitPrincipalBurst int     `json:"rate_limit_principal_burst"`
	// RateLimitAdmin applies the per-principal limit to administrators,
	// who are exempt by default.
	RateLimitAdmin bool `json:"rate_limit_admin"`
	// TrustedProxies are reverse proxies (addresses or networks) whose
	// X-Forwarded-For names the client address.
	TrustedProxies []string `json:"trusted_proxies"`
	// CORSOrigins may call the API from browsers ("*" for any); empty
	// turns CORS off. CORSCredentials lets them send cookies; CORSMaxAge
	// is how long a preflight answer may be cached.
	CORSOrigins     []string `json:"cors_origins"`
	CORSCredentials bool     `json:"cors_credentials"`
	CORSMaxAge      duration `json:"cors_max_age"`
	// MaxJSONDepth bounds the nesting of JSON request bodies.
	MaxJSONDepth int `json:"max_json_depth"`
	// HeaderLimit bounds the request line and headers, in bytes.
	HeaderLimit int `json:"header_limit"`
	// HeaderTimeout bounds the time to send a request's line and headers;
	// IdleTimeout the wait of a keep-alive connection for its next request.
	HeaderTimeout duration `json:"header_timeout"`
	IdleTimeout   duration `json:"idle_timeout"`
	// MaxConnsPerIP bounds the open connections of one address; 0 means
	// no bound.
	MaxConnsPerIP int `json:"max_conns_per_ip"`
}

func defaultHardening() hardeningConfig {
	return hardeningConfig{
		RateLimitIP:        server.DefaultIPRate,
		RateLimitPrincipal: server.DefaultPrincipalRate,
		CORSMaxAge:         duration(server.DefaultCORSMaxAge),
		MaxJSONDepth:       server.DefaultMaxJSONDepth,
		HeaderLimit:        server.DefaultHeaderLimit,
		HeaderTimeout:      duration(server.DefaultHeaderTimeout),
		IdleTimeout:        duration(server.DefaultIdleTimeout),
	}
}

// addHardeningFlags declares the flags of hardeningConfig. Lists are
// comma-separated strings, as in their environment variables.
func addHardeningFlags(fl *pflag.FlagSet) {
	d := defaultHardening()
	fl.Float64("rate-limit-ip", d.RateLimitIP, "requests per second of one client address (negative: no limit)")
	fl.Int("rate-limit-ip-burst", d.RateLimitIPBurst, "requests one client address may send at once (0: twice the rate)")
	fl.Float64("rate-limit-principal", d.RateLimitPrincipal, "requests per second of one authenticated principal (negative: no limit)")
	fl.Int("rate-limit-principal-burst", d.RateLimitPrincipalBurst, "requests one principal may send at once (0: twice the rate)")
	fl.Bool("rate-limit-admin", d.RateLimitAdmin, "apply the per-principal limit to administrators too (exempt by default)")
	fl.String("trusted-proxies", "", "comma-separated addresses or networks of reverse proxies whose X-Forwarded-For names the client")
	fl.String("cors-origins", "", `comma-separated origins that may call the API from browsers ("*": any); empty: CORS off`)
	fl.Bool("cors-credentials", d.CORSCredentials, "let CORS origins send cookies and HTTP authentication")
	fl.Duration("cors-max-age", time.Duration(d.CORSMaxAge), "how long browsers may cache a CORS preflight answer")
	fl.Int("max-json-depth", d.MaxJSONDepth, "deepest nesting of a JSON request body")
	fl.Int("header-limit", d.HeaderLimit, "largest request line plus headers in bytes")
	fl.Duration("header-timeout", time.Duration(d.HeaderTimeout), "time limit for a client to send a request's line and headers")
	fl.Duration("idle-timeout", time.Duration(d.IdleTimeout), "time a keep-alive connection may wait for its next request")
	fl.Int("max-conns-per-ip", d.MaxConnsPerIP, "open connections one client address may hold (0: no limit)")
}

// applyHardening sets the hardening setting named by its flag name; other
// names are left alone.
func applyHardening(h *hardeningConfig, name, v string) error {
	var err error
	var d time.Duration
	switch name {
	case "rate-limit-ip":
		h.RateLimitIP, err = strconv.ParseFloat(v, 64)
	case "rate-limit-ip-burst":
		h.RateLimitIPBurst, err = strconv.Atoi(v)
	case "rate-limit-principal":
		h.RateLimitPrincipal, err = strconv.ParseFloat(v, 64)
	case "rate-limit-principal-burst":
		h.RateLimitPrincipalBurst, err = strconv.Atoi(v)
	case "rate-limit-admin":
		h.RateLimitAdmin, err = strconv.ParseBool(v)
	case "trusted-proxies":
		h.TrustedProxies = splitList(v)
	case "cors-origins":
		h.CORSOrigins = splitList(v)
	case "cors-credentials":
		h.CORSCredentials, err = strconv.ParseBool(v)
	case "cors-max-age":
		d, err = time.ParseDuration(v)
		h.CORSMaxAge = duration(d)
	case "max-json-depth":
		h.MaxJSONDepth, err = strconv.Atoi(v)
	case "header-limit":
		h.HeaderLimit, err = strconv.Atoi(v)
	case "header-timeout":
		d, err = time.ParseDuration(v)
		h.HeaderTimeout = duration(d)
	case "idle-timeout":
		d, err = time.ParseDuration(v)
		h.IdleTimeout = duration(d)
	case "max-conns-per-ip":
		h.MaxConnsPerIP, err = strconv.Atoi(v)
	}
	return err
}

// splitList reads "a, b,c" as [a b c].
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// apply copies the settings into o and checks those the server would
// otherwise have to ignore (malformed origins or proxies).
func (h hardeningConfig) apply(o *server.Options) error {
	o.RateLimit = server.RateLimit{
		IPRate:         h.RateLimitIP,
		IPBurst:        h.RateLimitIPBurst,
		PrincipalRate:  h.RateLimitPrincipal,
		PrincipalBurst: h.RateLimitPrincipalBurst,
		Admins:         h.RateLimitAdmin,
	}
	o.TrustedProxies = h.TrustedProxies
	o.CORS = server.CORS{Origins: h.CORSOrigins, Credentials: h.CORSCredentials, MaxAge: time.Duration(h.CORSMaxAge)}
	o.MaxJSONDepth = h.MaxJSONDepth
	o.HeaderLimit = h.HeaderLimit
	o.HeaderTimeout = time.Duration(h.HeaderTimeout)
	o.IdleTimeout = time.Duration(h.IdleTimeout)
	o.MaxConnsPerIP = h.MaxConnsPerIP
	if err := o.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}
