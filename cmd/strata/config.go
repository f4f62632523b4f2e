package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/hooks"
	"github.com/strata-dev/strata/server"
)

// config is the server's configuration. Sources, strongest first: flags,
// STRATA_* environment variables, the config file, defaults.
type config struct {
	// Addr is the listen address.
	Addr string `json:"addr"`
	// Data is the data directory; the default storage lives in it.
	Data string `json:"data"`
	// Storage is a storage URL (bolt:PATH, memory:,
	// postgres://USER@HOST/DB). Empty means
	// bolt:<data>/strata.db.
	Storage string `json:"storage"`
	// BodyLimit is the largest request body in bytes.
	BodyLimit int `json:"body_limit"`
	// MaxDocumentSize is the largest resource data a write may store, in
	// bytes; 0 means BodyLimit.
	MaxDocumentSize int `json:"max_document_size"`
	// RequestTimeout bounds one request.
	RequestTimeout duration `json:"request_timeout"`
	// HookRegisterTimeout bounds the upload and compilation of a hook
	// module (PUT /api/hooks/{name}) instead of RequestTimeout.
	HookRegisterTimeout duration `json:"hook_register_timeout"`
	// HookModuleLimit is the largest hook module in bytes a registration
	// or a replay may send, in place of BodyLimit.
	HookModuleLimit int `json:"hook_module_limit"`
	// HookConcurrency bounds the hook calls running at once; 0 means the
	// number of CPUs (GOMAXPROCS) less one, at least 1.
	HookConcurrency int `json:"hook_concurrency"`
	// HookNice is the nice value (1 to 19) of the threads hooks that run
	// long run on; 0 runs them at the priority of requests.
	HookNice int `json:"hook_nice"`
	// HookLimits bounds what a hook module may declare, checked at upload
	// (file only; hooks.ModuleLimits).
	HookLimits hookLimitsConfig `json:"hook_limits"`
	// TransferTimeout bounds an export, an import and an online backup in
	// place of RequestTimeout.
	TransferTimeout duration `json:"transfer_timeout"`
	// ImportLimit is the largest import body in bytes, in place of
	// BodyLimit.
	ImportLimit int `json:"import_limit"`
	// ShutdownTimeout bounds the wait for in-flight requests on shutdown.
	ShutdownTimeout duration `json:"shutdown_timeout"`
	// ChangesRetention is how long change-log entries are kept once every
	// consumer has read them; 0 keeps them forever.
	ChangesRetention duration `json:"changes_retention"`
	// Retention is the revision retention of the types that set none.
	Retention retentionConfig `json:"retention"`
	// DefaultPageSize is the list page size when a request names none.
	DefaultPageSize int `json:"default_page_size"`
	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel  string `json:"log_level"`
	LogFormat string `json:"log_format"`
	// HooksDir holds hook modules (*.wasm) registered at start and
	// reloaded when they change. Empty means none.
	HooksDir string `json:"hooks_dir"`
	// Types are declared types, created or updated at start.
	Types []core.Type `json:"types"`
	// Auth says which credentials are accepted.
	Auth authConfig `json:"auth"`
	// WebhookAllowPrivate lets webhooks reach loopback, private and
	// link-local addresses (local setups, tests).
	WebhookAllowPrivate bool `json:"webhook_allow_private"`
	// WebhookDisableAfter is how long a webhook may fail without a
	// success before it is disabled.
	WebhookDisableAfter duration `json:"webhook_disable_after"`
	// LeaseTTL is how long a node of several on one PostgreSQL database
	// holds the after hooks, a webhook or a periodic job without renewing
	// it: a node that dies hands them over after at most this long.
	LeaseTTL duration `json:"lease_ttl"`
	// BlobLimit is the largest blob an upload may store, in bytes.
	BlobLimit int64 `json:"blob_limit"`
	// BlobGrace is how long a blob no revision references is kept after
	// its last upload.
	BlobGrace duration `json:"blob_grace"`
	// Metrics serves Prometheus metrics on /metrics and counts requests;
	// false turns both off.
	Metrics bool `json:"metrics"`
	// MetricsToken, when set, is a bearer token that may read /metrics
	// besides administrators (STRATA_METRICS_TOKEN; never a flag).
	MetricsToken string `json:"metrics_token"`
	// hardeningConfig holds the limits on what one client may send
	// (hardening.go); its file keys are flat, like body_limit.
	hardeningConfig
}

// authConfig configures authentication. The secrets (the admin key, the
// JWT secret) also come from the environment, so they need not be written
// in a file; they are never taken from flags, which other users of the
// machine can read in the process list.
type authConfig struct {
	// AdminKey is an administrator token (STRATA_ADMIN_KEY).
	AdminKey string `json:"admin_key"`
	// JWTSecret verifies HS256 JWTs (STRATA_JWT_SECRET).
	JWTSecret string `json:"jwt_secret"`
	// JWKSFile holds the public keys that verify RS256/ES256 JWTs.
	JWKSFile string `json:"jwks_file"`
	// JWTIssuer and JWTAudience, when set, must match iss and aud.
	JWTIssuer   string `json:"jwt_issuer"`
	JWTAudience string `json:"jwt_audience"`
}

// retentionConfig is the revision retention of the types whose
// definition sets none (core.Options.KeepLast).
type retentionConfig struct {
	// KeepLast keeps the newest KeepLast revisions of each resource (and
	// the current one's ancestors, as many); 0 keeps every revision.
	KeepLast int `json:"keep_last"`
}

// hookLimitsConfig is the structural limits of hook modules
// (hooks.ModuleLimits) and the bound of their compilation; a zero field
// keeps its default.
type hookLimitsConfig struct {
	MaxFunctions       int      `json:"max_functions"`
	MaxFunctionBytes   int      `json:"max_function_bytes"`
	MaxNesting         int      `json:"max_nesting"`
	MaxBrTableTargets  int      `json:"max_br_table_targets"`
	MaxLocals          int      `json:"max_locals"`
	MaxTables          int      `json:"max_tables"`
	MaxTableEntries    int      `json:"max_table_entries"`
	MaxGlobals         int      `json:"max_globals"`
	MaxElementSegments int      `json:"max_element_segments"`
	MaxElementEntries  int      `json:"max_element_entries"`
	MaxDataSegments    int      `json:"max_data_segments"`
	MaxTypes           int      `json:"max_types"`
	MaxExports         int      `json:"max_exports"`
	CompileTimeout     duration `json:"compile_timeout"`
}

// moduleLimits is l as the hook runtime takes it.
func (l hookLimitsConfig) moduleLimits() hooks.ModuleLimits {
	return hooks.ModuleLimits{
		MaxFunctions: uint32(l.MaxFunctions), MaxFunctionBytes: uint32(l.MaxFunctionBytes), MaxNesting: uint32(l.MaxNesting),
		MaxBrTableTargets: uint32(l.MaxBrTableTargets), MaxLocals: uint32(l.MaxLocals), MaxTables: uint32(l.MaxTables),
		MaxTableEntries: uint32(l.MaxTableEntries), MaxGlobals: uint32(l.MaxGlobals), MaxElementSegments: uint32(l.MaxElementSegments),
		MaxElementEntries: uint32(l.MaxElementEntries), MaxDataSegments: uint32(l.MaxDataSegments), MaxTypes: uint32(l.MaxTypes),
		MaxExports: uint32(l.MaxExports),
	}
}

// check refuses a limit out of range, naming it.
func (l hookLimitsConfig) check() error {
	v := reflect.ValueOf(l)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch x := v.Field(i).Interface().(type) {
		case int:
			if x < 0 || x > math.MaxUint32 {
				return fmt.Errorf("hook_limits.%s %d: want 0 (the default) to %d", name, x, uint32(math.MaxUint32))
			}
		case duration:
			if x < 0 {
				return fmt.Errorf("hook_limits.%s %s: want 0 (the default, 2m) or more", name, time.Duration(x))
			}
		}
	}
	return nil
}

// duration reads "30s" style strings from YAML/JSON.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string like \"30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

func defaultConfig() config {
	return config{
		Addr:            "127.0.0.1:8080",
		Data:            "./strata_data",
		BodyLimit:       10 << 20,
		RequestTimeout:  duration(30 * time.Second),
		ShutdownTimeout: duration(30 * time.Second),
		TransferTimeout: duration(server.DefaultTransferTimeout),
		ImportLimit:     server.DefaultImportLimit,
		DefaultPageSize: core.DefaultPageSize,

		ChangesRetention: duration(core.DefaultChangesRetention),
		LogLevel:         "info",
		LogFormat:        "text",
		hardeningConfig:  defaultHardening(),

		HookRegisterTimeout: duration(server.DefaultHookRegisterTimeout),
		HookModuleLimit:     server.DefaultHookModuleLimit,
		WebhookDisableAfter: duration(core.DefaultWebhookDisableAfter),
		LeaseTTL:            duration(core.DefaultLeaseTTL),

		BlobLimit: core.DefaultBlobLimit,
		BlobGrace: duration(core.DefaultBlobGrace),
		Metrics:   true,
	}
}

// maxDocumentSize is the document size limit the server enforces: the
// body limit unless set, so whatever can be sent can be stored, and a
// patch cannot grow a document past what a client could have sent.
func (c config) maxDocumentSize() int {
	if c.MaxDocumentSize > 0 {
		return c.MaxDocumentSize
	}
	return c.BodyLimit
}

// check refuses settings out of range that the parts would otherwise
// silently replace by their defaults or misread, whichever source (file,
// environment, flag) gave them.
func (c config) check() error {
	switch {
	case c.HookConcurrency < 0:
		return fmt.Errorf("hook_concurrency %d: want 0 (the CPUs less one) or more", c.HookConcurrency)
	case c.HookModuleLimit <= 0:
		return fmt.Errorf("hook_module_limit %d: want a positive number of bytes", c.HookModuleLimit)
	case c.HookNice < 0 || c.HookNice > 19:
		return fmt.Errorf("hook_nice %d: want 0 (off) to 19", c.HookNice)
	case c.ChangesRetention < 0:
		// core would take it as "forever": more likely a mistake.
		return fmt.Errorf("changes_retention %s: want 0 (keep the change log forever) or more", time.Duration(c.ChangesRetention))
	case c.TransferTimeout <= 0:
		return fmt.Errorf("transfer_timeout %s: want a positive duration", time.Duration(c.TransferTimeout))
	case c.ImportLimit <= 0:
		return fmt.Errorf("import_limit %d: want a positive number of bytes", c.ImportLimit)
	case c.HookLimits.check() != nil:
		return c.HookLimits.check()
	case c.Retention.KeepLast < 0:
		return fmt.Errorf("retention.keep_last %d: want 0 (keep every revision) or more", c.Retention.KeepLast)
	case c.WebhookDisableAfter <= 0:
		return fmt.Errorf("webhook_disable_after %s: want a positive duration", time.Duration(c.WebhookDisableAfter))
	case c.LeaseTTL <= 0:
		return fmt.Errorf("lease_ttl %s: want a positive duration", time.Duration(c.LeaseTTL))
	case c.BlobLimit <= 0:
		return fmt.Errorf("blob_limit %d: want a positive number of bytes", c.BlobLimit)
	case c.BlobGrace <= 0:
		// A grace of zero would remove a blob between its upload and the
		// write that references it.
		return fmt.Errorf("blob_grace %s: want a positive duration", time.Duration(c.BlobGrace))
	case c.MetricsToken != "" && len(c.MetricsToken) < 16:
		return errors.New("metrics_token: want at least 16 characters")
	}
	return nil
}

// storageURL is the storage the server opens.
func (c config) storageURL() string {
	if c.Storage != "" {
		return c.Storage
	}
	return "bolt:" + filepath.Join(c.Data, "strata.db")
}

// redactedStorageURL is storageURL with any password replaced by "xxxxx",
// for logs.
func (c config) redactedStorageURL() string {
	s := c.storageURL()
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return u.Redacted()
		}
	}
	return s
}

// loadConfigFile overlays the YAML file at path on c. A missing file is
// fine unless required (named explicitly).
func loadConfigFile(c *config, path string, required bool) error {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read config %s: %w", path, err)
	}
	// YAML → generic value → JSON, so every struct (core.Type included)
	// decodes by its JSON tags and schemas stay plain JSON.
	var generic any
	if err := yaml.Unmarshal(raw, &generic); err != nil {
		return fmt.Errorf("parse config %s: %w", path, err)
	}
	if generic == nil {
		return nil
	}
	// The JSON decoder would refuse an unknown key too, but as
	// `json: unknown field "adr"`, naming neither the file nor the line
	// nor what is allowed.
	if err := checkConfigKeys(raw); err != nil {
		return fmt.Errorf("config %s:%w", path, err)
	}
	js, err := json.Marshal(generic)
	if err != nil {
		return fmt.Errorf("parse config %s: %w", path, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(js)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("parse config %s: %w", path, err)
	}
	return nil
}

// checkConfigKeys reports the first key of the YAML document raw that is
// not a setting, at the top level or under auth, with its line, a likely
// meant key and the known ones. (The keys of a declared type are checked
// when the type is decoded.)
func checkConfigKeys(raw []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) == 0 {
		return nil // Unmarshal into a value reports it
	}
	check := func(n *yaml.Node, prefix string, known []string) error {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if slices.Contains(known, k.Value) {
				continue
			}
			hint := ""
			if near := nearest(k.Value, known); near != "" {
				hint = fmt.Sprintf(" (did you mean %s%s?)", prefix, near)
			}
			where := ""
			if prefix != "" {
				where = " under " + strings.TrimSuffix(prefix, ".")
			}
			return fmt.Errorf("%d: unknown key %s%s%s; known keys%s: %s",
				k.Line, prefix, k.Value, hint, where, strings.Join(known, ", "))
		}
		return nil
	}
	top := doc.Content[0]
	if err := check(top, "", jsonKeys(reflect.TypeFor[config]())); err != nil {
		return err
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		switch top.Content[i].Value {
		case "auth":
			if err := check(top.Content[i+1], "auth.", jsonKeys(reflect.TypeFor[authConfig]())); err != nil {
				return err
			}
		case "retention":
			if err := check(top.Content[i+1], "retention.", jsonKeys(reflect.TypeFor[retentionConfig]())); err != nil {
				return err
			}
		case "hook_limits":
			if err := check(top.Content[i+1], "hook_limits.", jsonKeys(reflect.TypeFor[hookLimitsConfig]())); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonKeys lists the JSON keys of struct type t, those of embedded
// structs included, sorted.
func jsonKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			keys = append(keys, jsonKeys(f.Type)...)
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	slices.Sort(keys)
	return keys
}

// nearest returns the key of known closest to k by edit distance, if it is
// close enough to be a typo (at most 2 edits, fewer than k's length).
func nearest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(k, c); d < bestD && d < len(k) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// envSettings maps STRATA_* variables to flag names: each is applied as if
// the flag were given, so both share one parser.
var envSettings = map[string]string{
	"STRATA_ADDR":                "addr",
	"STRATA_DATA":                "data",
	"STRATA_STORAGE":             "storage",
	"STRATA_BODY_LIMIT":          "body-limit",
	"STRATA_MAX_DOCUMENT_SIZE":   "max-document-size",
	"STRATA_REQUEST_TIMEOUT":     "request-timeout",
	"STRATA_SHUTDOWN_TIMEOUT":    "shutdown-timeout",
	"STRATA_TRANSFER_TIMEOUT":    "transfer-timeout",
	"STRATA_IMPORT_LIMIT":        "import-limit",
	"STRATA_CHANGES_RETENTION":   "changes-retention",
	"STRATA_DEFAULT_PAGE_SIZE":   "default-page-size",
	"STRATA_RETENTION_KEEP_LAST": "retention-keep-last",
	"STRATA_LOG_LEVEL":           "log-level",
	"STRATA_LOG_FORMAT":          "log-format",
	"STRATA_HOOKS_DIR":           "hooks-dir",
	"STRATA_JWKS_FILE":           "jwks-file",
	"STRATA_JWT_ISSUER":          "jwt-issuer",
	"STRATA_JWT_AUDIENCE":        "jwt-audience",

	// Hook modules.
	"STRATA_HOOK_REGISTER_TIMEOUT": "hook-register-timeout",
	"STRATA_HOOK_MODULE_LIMIT":     "hook-module-limit",
	"STRATA_HOOK_CONCURRENCY":      "hook-concurrency",
	"STRATA_HOOK_NICE":             "hook-nice",

	// Webhooks.
	"STRATA_WEBHOOK_ALLOW_PRIVATE": "webhook-allow-private",
	"STRATA_WEBHOOK_DISABLE_AFTER": "webhook-disable-after",

	// Several nodes on one database.
	"STRATA_LEASE_TTL": "lease-ttl",

	// Hardening (hardening.go).
	"STRATA_RATE_LIMIT_IP":              "rate-limit-ip",
	"STRATA_RATE_LIMIT_IP_BURST":        "rate-limit-ip-burst",
	"STRATA_RATE_LIMIT_PRINCIPAL":       "rate-limit-principal",
	"STRATA_RATE_LIMIT_PRINCIPAL_BURST": "rate-limit-principal-burst",
	"STRATA_RATE_LIMIT_ADMIN":           "rate-limit-admin",
	"STRATA_TRUSTED_PROXIES":            "trusted-proxies",
	"STRATA_CORS_ORIGINS":               "cors-origins",
	"STRATA_CORS_CREDENTIALS":           "cors-credentials",
	"STRATA_CORS_MAX_AGE":               "cors-max-age",
	"STRATA_MAX_JSON_DEPTH":             "max-json-depth",
	"STRATA_HEADER_LIMIT":               "header-limit",
	"STRATA_HEADER_TIMEOUT":             "header-timeout",
	"STRATA_IDLE_TIMEOUT":               "idle-timeout",
	"STRATA_MAX_CONNS_PER_IP":           "max-conns-per-ip",
	"STRATA_BLOB_LIMIT":                 "blob-limit",
	"STRATA_BLOB_GRACE":                 "blob-grace",
	"STRATA_METRICS":                    "metrics",
}

// addServeFlags declares the flags that override the configuration.
func addServeFlags(fl *pflag.FlagSet) {
	d := defaultConfig()
	fl.String("config", "strata.yaml", "config file (YAML); env STRATA_CONFIG")
	fl.String("addr", d.Addr, "listen address")
	fl.String("data", d.Data, "data directory")
	fl.String("storage", "", "storage URL (bolt:PATH, memory: or postgres://USER@HOST/DB); default bolt:<data>/strata.db")
	fl.Int("body-limit", d.BodyLimit, "largest request body in bytes")
	fl.Int("max-document-size", d.MaxDocumentSize, "largest resource data a write may store, in bytes (0: the body limit)")
	fl.Duration("request-timeout", time.Duration(d.RequestTimeout), "time limit of one request")
	fl.Duration("hook-register-timeout", time.Duration(d.HookRegisterTimeout), "time limit of a hook module's upload and compilation (PUT /api/hooks/{name}), and of a replay")
	fl.Int("hook-module-limit", d.HookModuleLimit, "largest hook module in bytes a registration or replay may send (in place of --body-limit)")
	fl.Int("hook-concurrency", d.HookConcurrency, "hook calls running at once, more wait for a slot (0: CPUs less one, at least 1)")
	fl.Int("hook-nice", d.HookNice, "nice value (1 to 19) of the threads hooks that run 1 ms or more run on, so requests get the CPU first (0: the priority of requests)")
	fl.Duration("shutdown-timeout", time.Duration(d.ShutdownTimeout), "time limit for in-flight requests at shutdown")
	fl.Duration("transfer-timeout", time.Duration(d.TransferTimeout), "time limit of an export, an import or an online backup, in place of the request timeout")
	fl.Int("import-limit", d.ImportLimit, "largest import body in bytes, in place of the body limit")
	fl.Duration("changes-retention", time.Duration(d.ChangesRetention), "how long change-log entries every consumer has read are kept (0: forever)")
	fl.Int("default-page-size", d.DefaultPageSize, "list page size when a request names none")
	fl.Int("retention-keep-last", d.Retention.KeepLast, "revisions kept of each resource of the types that set no retention, pruned in the background (0: all)")
	fl.String("log-level", d.LogLevel, "debug, info, warn or error")
	fl.String("log-format", d.LogFormat, "text or json")
	fl.String("hooks-dir", "", "directory of hook modules (*.wasm), loaded at start and reloaded on change")
	fl.Bool("webhook-allow-private", d.WebhookAllowPrivate, "let webhooks reach loopback, private and link-local addresses (local setups only)")
	fl.Duration("webhook-disable-after", time.Duration(d.WebhookDisableAfter), "how long a webhook may fail without a success before it is disabled")
	fl.Duration("lease-ttl", time.Duration(d.LeaseTTL), "with several nodes on one PostgreSQL database: how long a dead node's after hooks, webhooks and jobs wait before another takes them over")
	fl.Int64("blob-limit", d.BlobLimit, "largest blob an upload may store, in bytes")
	fl.Duration("blob-grace", time.Duration(d.BlobGrace), "how long a blob no revision references is kept after its last upload")
	fl.Bool("metrics", d.Metrics, "serve Prometheus metrics on /metrics (admins, or the metrics token of STRATA_METRICS_TOKEN)")
	addHardeningFlags(fl)
	fl.String("jwks-file", "", "JSON Web Key Set file whose keys verify RS256/ES256 tokens")
	fl.String("jwt-issuer", "", "required iss claim of JWTs")
	fl.String("jwt-audience", "", "required aud claim of JWTs")
}

// resolveConfig builds the configuration: defaults, then the file, then
// the environment, then the flags that were set.
func resolveConfig(fl *pflag.FlagSet, getenv func(string) string) (config, error) {
	c := defaultConfig()
	path, required := "strata.yaml", false
	if v := getenv("STRATA_CONFIG"); v != "" {
		path, required = v, true
	}
	if fl.Changed("config") {
		path, _ = fl.GetString("config")
		required = true
	}
	if err := loadConfigFile(&c, path, required); err != nil {
		return c, err
	}
	set := map[string]string{}
	for env, flag := range envSettings {
		if v := getenv(env); v != "" {
			set[flag] = v
		}
	}
	fl.Visit(func(f *pflag.Flag) { set[f.Name] = f.Value.String() })
	if v := getenv("STRATA_ADMIN_KEY"); v != "" {
		c.Auth.AdminKey = v
	}
	if v := getenv("STRATA_JWT_SECRET"); v != "" {
		c.Auth.JWTSecret = v
	}
	if v := getenv("STRATA_METRICS_TOKEN"); v != "" {
		c.MetricsToken = v
	}
	for name, v := range set {
		if err := applySetting(&c, name, v); err != nil {
			return c, err
		}
	}
	return c, nil
}

func applySetting(c *config, name, v string) error {
	var err error
	switch name {
	case "addr":
		c.Addr = v
	case "data":
		c.Data = v
	case "storage":
		c.Storage = v
	case "body-limit":
		c.BodyLimit, err = strconv.Atoi(v)
	case "max-document-size":
		c.MaxDocumentSize, err = strconv.Atoi(v)
	case "default-page-size":
		c.DefaultPageSize, err = strconv.Atoi(v)
	case "hook-module-limit":
		c.HookModuleLimit, err = strconv.Atoi(v)
	case "import-limit":
		c.ImportLimit, err = strconv.Atoi(v)
	case "retention-keep-last":
		c.Retention.KeepLast, err = strconv.Atoi(v)
	case "hook-concurrency":
		c.HookConcurrency, err = strconv.Atoi(v)
	case "hook-nice":
		c.HookNice, err = strconv.Atoi(v)
	case "blob-limit":
		c.BlobLimit, err = strconv.ParseInt(v, 10, 64)
	case "lease-ttl":
		var d time.Duration
		if d, err = time.ParseDuration(v); err == nil && d <= 0 {
			err = errors.New("want a positive duration")
		}
		c.LeaseTTL = duration(d)
	case "blob-grace":
		var d time.Duration
		d, err = time.ParseDuration(v)
		c.BlobGrace = duration(d)
	case "metrics":
		c.Metrics, err = strconv.ParseBool(v)
	case "webhook-allow-private":
		c.WebhookAllowPrivate, err = strconv.ParseBool(v)
	case "webhook-disable-after":
		var d time.Duration
		if d, err = time.ParseDuration(v); err == nil && d <= 0 {
			err = errors.New("want a positive duration")
		}
		c.WebhookDisableAfter = duration(d)
	case "request-timeout", "shutdown-timeout", "hook-register-timeout", "changes-retention", "transfer-timeout":
		var d time.Duration
		d, err = time.ParseDuration(v)
		switch name {
		case "request-timeout":
			c.RequestTimeout = duration(d)
		case "hook-register-timeout":
			c.HookRegisterTimeout = duration(d)
		case "changes-retention":
			c.ChangesRetention = duration(d)
		case "transfer-timeout":
			c.TransferTimeout = duration(d)
		default:
			c.ShutdownTimeout = duration(d)
		}
	case "log-level":
		c.LogLevel = v
	case "log-format":
		c.LogFormat = v
	case "hooks-dir":
		c.HooksDir = v
	case "jwks-file":
		c.Auth.JWKSFile = v
	case "jwt-issuer":
		c.Auth.JWTIssuer = v
	case "jwt-audience":
		c.Auth.JWTAudience = v
	default:
		err = applyHardening(&c.hardeningConfig, name, v)
	}
	if err != nil {
		return fmt.Errorf("setting %s=%q: %w", name, v, err)
	}
	return nil
}
