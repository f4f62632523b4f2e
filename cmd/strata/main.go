// Command strata runs the Strata resource server and its tools.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/app"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/hooks"
	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/plugins/memory"
	"github.com/strata-dev/strata/plugins/postgres"
	"github.com/strata-dev/strata/sdk/storage"
	"github.com/strata-dev/strata/server"
)

func main() {
	tuneGC()
	if err := rootCommand().Execute(); err != nil {
		var quiet *quietError
		if !errors.As(err, &quiet) {
			fmt.Fprintln(os.Stderr, "strata:", err)
		}
		os.Exit(1)
	}
}

func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "strata",
		Short:         "Strata: a versioned JSON resource server",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCommand(), typesCommand(), hookCommand(), reindexCommand(), keysCommand(),
		exportCommand(), importCommand(), backupCommand())
	return root
}

// tuneGC makes the collector run less often than Go's default unless the
// operator set GOGC: the live heap of a Strata server is small (records are
// short-lived request buffers), so the default GOGC=100 collects very often
// for little gain. The soft memory limit keeps a ceiling on the heap.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(512 << 20)
	}
}

// storageRegistry lists the storage backends this binary carries.
func storageRegistry() *storage.Registry {
	reg := &storage.Registry{}
	reg.Register("bolt", bolt.Open)
	reg.Register("memory", memory.Open)
	reg.Register("postgres", postgres.Open)
	reg.Register("postgresql", postgres.Open)
	return reg
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

func serveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := resolveConfig(cmd.Flags(), os.Getenv)
			if err != nil {
				return err
			}
			log, err := newLogger(cmd.ErrOrStderr(), cfg.LogLevel, cfg.LogFormat)
			if err != nil {
				return err
			}
			if path, _ := cmd.Flags().GetString("cpu-profile"); path != "" {
				f, err := os.Create(path)
				if err != nil {
					return fmt.Errorf("cpu profile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("cpu profile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cfg, log)
		},
	}
	addServeFlags(cmd.Flags())
	cmd.Flags().String("cpu-profile", "", "write a CPU profile of the whole run to this file (for performance work)")
	_ = cmd.Flags().MarkHidden("cpu-profile")
	return cmd
}

// extraProcsForHooks gives the process one P more per hook slot (slots, or
// the default when 0) and returns the slots. With hooks on threads of a
// lower priority (hook_nice), the kernel is to decide who runs; but a
// computing hook holds a P, so with GOMAXPROCS Ps, one per CPU, requests
// would still have only those the hooks leave. With a P more per slot,
// requests always have a P for every CPU, and the kernel gives them the
// CPUs first.
func extraProcsForHooks(slots int, log *slog.Logger) int {
	if slots <= 0 {
		slots = hooks.DefaultConcurrency()
	}
	procs := runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(procs + slots)
	log.Info("hooks run at a lower priority: GOMAXPROCS raised by the hook slots",
		slog.Int("hook_concurrency", slots), slog.Int("gomaxprocs", procs+slots))
	return slots
}

// serve runs the server until ctx is done, then shuts down gracefully:
// readiness drops, in-flight requests finish, storage closes cleanly.
func serve(ctx context.Context, cfg config, log *slog.Logger) error {
	if err := cfg.check(); err != nil {
		return err
	}
	opts := server.Options{
		Logger:          log,
		BodyLimit:       cfg.BodyLimit,
		RequestTimeout:  time.Duration(cfg.RequestTimeout),
		DefaultPageSize: cfg.DefaultPageSize,

		HookRegisterTimeout: time.Duration(cfg.HookRegisterTimeout),
		HookModuleLimit:     cfg.HookModuleLimit,
		TransferTimeout:     time.Duration(cfg.TransferTimeout),
		ImportLimit:         cfg.ImportLimit,
	}
	if err := cfg.hardeningConfig.apply(&opts); err != nil {
		return err
	}
	if cfg.HookNice > 0 && hooks.NiceWorks() {
		cfg.HookConcurrency = extraProcsForHooks(cfg.HookConcurrency, log)
	}
	a, err := app.New(ctx, app.Config{
		StorageURL:         cfg.storageURL(),
		Drivers:            storageRegistry(),
		Data:               cfg.Data,
		HooksDir:           cfg.HooksDir,
		HookConcurrency:    cfg.HookConcurrency,
		HookNice:           cfg.HookNice,
		HookLimits:         cfg.HookLimits.moduleLimits(),
		HookCompileTimeout: time.Duration(cfg.HookLimits.CompileTimeout),
		Types:              cfg.Types,
		MaxDocumentSize:    cfg.maxDocumentSize(),
		ChangesRetention:   time.Duration(cfg.ChangesRetention),
		KeepLast:           cfg.Retention.KeepLast,
		BlobLimit:          cfg.BlobLimit,
		BlobGrace:          time.Duration(cfg.BlobGrace),
		LeaseTTL:           time.Duration(cfg.LeaseTTL),
		NoMetrics:          !cfg.Metrics,
		Auth:               authOptions(cfg),
		Webhooks:           core.WebhookOptions{AllowPrivate: cfg.WebhookAllowPrivate, DisableAfter: time.Duration(cfg.WebhookDisableAfter)},
		Server:             opts,
		// shutdown_timeout: 0 stops at once, where app.Config's zero
		// waits without a bound.
		ShutdownTimeout: max(time.Duration(cfg.ShutdownTimeout), time.Nanosecond),
		Logger:          log,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := a.Close(context.WithoutCancel(ctx)); err != nil {
			log.Error("close", slog.Any("err", err))
		}
	}()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	log.Info("strata listening", slog.String("addr", ln.Addr().String()),
		slog.String("storage", cfg.redactedStorageURL()), slog.Int("types", len(a.Manager().Types())))
	if err := a.Serve(ctx, ln); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

func typesCommand() *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:   "types",
		Short: "List the types of a running server (--url) or of a data directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var types []core.Type
			var err error
			if url != "" {
				token := os.Getenv("STRATA_TOKEN")
				if token == "" {
					// An anonymous list is not an error, but it is rarely
					// what was meant: say why types may be missing.
					fmt.Fprintln(cmd.ErrOrStderr(), "strata: STRATA_TOKEN is not set: listing only the types anonymous clients may read (set it to an API key or the admin key to see all)")
				}
				types, err = remoteTypes(cmd.Context(), url, token)
			} else {
				types, err = localTypes(cmd)
			}
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSCHEMA VERSION\tUNIQUE\tREFERENCES")
			for _, t := range types {
				var refs []string
				for f, r := range t.References {
					refs = append(refs, f+"→"+r.Type)
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", t.Name, t.SchemaVersion, strings.Join(t.Unique, ","), strings.Join(refs, ","))
			}
			return tw.Flush()
		},
	}
	addServeFlags(cmd.Flags())
	cmd.Flags().StringVar(&url, "url", "", "base URL of a running server, e.g. http://127.0.0.1:8080 (token from STRATA_TOKEN)")
	return cmd
}

// remoteTypes lists the types a running server shows to token ("" for
// anonymous: only types with some public permission).
func remoteTypes(ctx context.Context, base, token string) ([]core.Type, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/api/types", nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("list types at %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list types at %s: %s", base, resp.Status)
	}
	var body struct {
		Items []core.Type `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("list types at %s: %w", base, err)
	}
	return body.Items, nil
}

func localTypes(cmd *cobra.Command) ([]core.Type, error) {
	cfg, err := resolveConfig(cmd.Flags(), os.Getenv)
	if err != nil {
		return nil, err
	}
	ctx := cmd.Context()
	store, err := storageRegistry().Open(ctx, cfg.storageURL(), storage.OpenOptions{})
	if err != nil {
		if errors.Is(err, bolt.ErrLocked) {
			return nil, fmt.Errorf("%w (a server is using it: pass --url)", err)
		}
		return nil, err
	}
	defer store.Close()
	m, err := core.Open(ctx, store, core.Options{})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return m.Types(), nil
}

func reindexCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reindex [type]",
		Short: "Rebuild the search index of one type, or of all, from storage (with the server stopped)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := resolveConfig(cmd.Flags(), os.Getenv)
			if err != nil {
				return err
			}
			start := time.Now()
			names, err := app.Reindex(cmd.Context(), app.Config{StorageURL: cfg.storageURL(), Drivers: storageRegistry(), Data: cfg.Data}, args...)
			if errors.Is(err, bolt.ErrLocked) {
				return fmt.Errorf("%w (stop the server first)", err)
			}
			if err != nil {
				return err
			}
			took := time.Since(start).Round(time.Millisecond)
			if len(names) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "reindexed nothing: no type is indexed (%s)\n", took)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reindexed %s in %s\n", strings.Join(names, ", "), took)
			return nil
		},
	}
	addServeFlags(cmd.Flags())
	return cmd
}
