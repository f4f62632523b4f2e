package hooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// LoadDir registers every *.wasm file in dir under its base name
// (posts_validate.wasm → posts_validate) and then, until ctx is done,
// scans the directory every interval: a new file is registered; a changed
// file replaces its module for new calls (calls in flight finish on the
// old one); a removed file unregisters the module it registered, unless
// that name has since been given another module (through the API), so
// that writes to the types bound to it fail with hook_failed until a
// module of that name is registered again.
//
// A file that cannot be read, is not a regular file or holds a module
// Register refuses is logged and skipped; the others load. Only a
// directory that cannot be read at all makes LoadDir fail. Each new or
// changed file is registered on a goroutine of its own, with ctx (the
// Runtime bounds the compilations running at once): a file slow to
// compile delays neither the others nor the next scans, which skip a file
// still being registered. LoadDir returns once the files of the first
// scan are registered, and keeps watching in a goroutine that ends with
// ctx; done is closed then, without waiting for a registration still
// compiling (Register gives it up when ctx ends, and Close waits for it as
// for any Register).
func LoadDir(ctx context.Context, r *Runtime, dir string, interval time.Duration, log *slog.Logger) (done <-chan struct{}, err error) {
	w := newDirWatcher(r, dir, log)
	if _, err := os.ReadDir(dir); err != nil {
		return nil, fmt.Errorf("hooks: read hooks directory %s: %w", dir, err)
	}
	w.scan(ctx).Wait()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		defer w.workers.Wait() // each ends when ctx does
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				w.scan(ctx)
			}
		}
	}()
	return stopped, nil
}

// dirWatcher is the state of LoadDir: what each file registered. Its
// scans run on LoadDir's goroutine, its registrations on workers.
type dirWatcher struct {
	r   *Runtime
	dir string
	log *slog.Logger
	// register registers a module: Runtime.Register, or a test's.
	register func(ctx context.Context, name string, wasm []byte) (ModuleInfo, error)
	workers  sync.WaitGroup // registrations in progress

	mu       sync.Mutex
	files    map[string]dirFile // by path
	inflight map[string]bool    // paths being registered
}

// dirFile is what the watcher knows of one file of the directory.
type dirFile struct {
	name   string // the module's name
	sha256 string // the digest of the content last tried
	loaded bool   // that content is registered as name
	err    string // the last error reading it, logged once
}

func newDirWatcher(r *Runtime, dir string, log *slog.Logger) *dirWatcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &dirWatcher{
		r: r, dir: dir, log: log, register: r.Register,
		files:    map[string]dirFile{},
		inflight: map[string]bool{},
	}
}

// scan reads the directory once: it starts the registration of each new
// or changed file and unregisters the modules of removed files. The
// returned group ends when the registrations it started do.
func (w *dirWatcher) scan(ctx context.Context) *sync.WaitGroup {
	var started sync.WaitGroup
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		w.log.ErrorContext(ctx, "hooks directory cannot be read; its modules stay as they are",
			slog.String("dir", w.dir), slog.Any("err", err))
		return &started
	}
	present := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".wasm") {
			continue
		}
		path := filepath.Join(w.dir, e.Name())
		present[path] = true
		w.mu.Lock()
		busy := w.inflight[path]
		w.mu.Unlock()
		if busy {
			continue // the next scan looks again
		}
		wasm, err := readModuleFile(path)
		if err != nil {
			w.fileError(ctx, path, err)
			continue
		}
		sum := sha256.Sum256(wasm)
		digest := hex.EncodeToString(sum[:])
		w.mu.Lock()
		f := w.files[path]
		if f.err != "" { // readable again: log its next error
			f.err = ""
			w.files[path] = f
		}
		if f.sha256 == digest {
			w.mu.Unlock()
			continue
		}
		w.inflight[path] = true
		w.mu.Unlock()
		started.Add(1)
		w.workers.Add(1)
		go func() {
			defer w.workers.Done()
			defer started.Done()
			w.load(ctx, path, strings.TrimSuffix(e.Name(), ".wasm"), digest, wasm)
		}()
	}
	w.unloadRemoved(ctx, present)
	return &started
}

// readModuleFile reads a regular file; anything else (a FIFO, a device)
// could block or never end, and is refused.
func readModuleFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return os.ReadFile(path)
}

// fileError logs that path cannot be read, once per distinct error.
func (w *dirWatcher) fileError(ctx context.Context, path string, err error) {
	w.mu.Lock()
	f := w.files[path]
	again := f.err == err.Error()
	f.err = err.Error()
	w.files[path] = f
	w.mu.Unlock()
	if !again {
		w.log.ErrorContext(ctx, "hook module file cannot be read; skipped",
			slog.String("file", path), slog.Any("err", err))
	}
}

// load registers the content wasm of the file path, whose digest is
// digest, as name. It gives up when ctx ends, even if the registration
// goes on: it is the Runtime's then.
func (w *dirWatcher) load(ctx context.Context, path, name, digest string, wasm []byte) {
	defer func() {
		w.mu.Lock()
		delete(w.inflight, path)
		w.mu.Unlock()
	}()
	type result struct {
		info ModuleInfo
		err  error
	}
	res := make(chan result, 1)
	go func() {
		info, err := w.register(ctx, name, wasm)
		res <- result{info, err}
	}()
	var got result
	select {
	case got = <-res:
	case <-ctx.Done():
		return // not recorded: a later LoadDir starts over
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if ctx.Err() != nil && got.err != nil {
		return
	}
	w.files[path] = dirFile{name: name, sha256: digest, loaded: got.err == nil}
	if got.err != nil {
		// Not retried until the file changes.
		w.log.ErrorContext(ctx, "hook module file not loaded", slog.String("file", path), slog.Any("err", got.err))
		return
	}
	w.log.InfoContext(ctx, "hook module loaded", slog.String("hook", name), slog.String("file", path), slog.String("sha256", digest))
}

// unloadRemoved unregisters the modules of the files no longer present,
// unless their names now hold other modules.
func (w *dirWatcher) unloadRemoved(ctx context.Context, present map[string]bool) {
	w.mu.Lock()
	var gone []dirFile
	for path, f := range w.files {
		if present[path] || w.inflight[path] {
			continue
		}
		delete(w.files, path)
		if f.loaded {
			gone = append(gone, f)
		}
	}
	w.mu.Unlock()
	for _, f := range gone {
		if w.r.removeModule(ctx, f.name, f.sha256) {
			w.log.InfoContext(ctx, "hook module unloaded: its file was removed", slog.String("hook", f.name))
		}
	}
}

// removeModule is Remove of name if, and only if, it holds the module
// whose digest is sha256, in one step: a module registered under that
// name since (through the API) stays. It reports whether it removed one.
func (r *Runtime) removeModule(ctx context.Context, name, sha256 string) bool {
	r.mu.Lock()
	e := r.mods[name]
	if r.closed || e == nil || e.info.SHA256 != sha256 {
		r.mu.Unlock()
		return false
	}
	delete(r.mods, name)
	r.mu.Unlock()
	e.retire(ctx)
	r.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "hook module removed", slog.String("hook", name))
	return true
}
