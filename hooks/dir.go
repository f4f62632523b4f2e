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
	"time"
)

// LoadDir registers every *.wasm file in dir under its base name (posts_validate.wasm
// → posts_validate) and then, until ctx is done, checks the directory every
// interval: a changed file replaces its module for new calls (calls in
// flight finish on the old one); a new file is registered. A removed file
// leaves its module registered, so deleting a file never breaks the types
// bound to it; remove modules through the API. The first pass's errors are
// returned; later ones are logged. LoadDir returns after the first pass and
// keeps watching in a goroutine that ends with ctx; done is closed then.
func LoadDir(ctx context.Context, r *Runtime, dir string, interval time.Duration, log *slog.Logger) (done <-chan struct{}, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	seen := map[string]string{} // file → sha256 registered
	scan := func() error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("read hooks directory %s: %w", dir, err)
		}
		var errs []string
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".wasm") {
				continue
			}
			path := filepath.Join(dir, e.Name())
			wasm, err := os.ReadFile(path)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			sum := sha256.Sum256(wasm)
			digest := hex.EncodeToString(sum[:])
			if seen[path] == digest {
				continue
			}
			name := strings.TrimSuffix(e.Name(), ".wasm")
			if _, err := r.Register(ctx, name, wasm); err != nil {
				errs = append(errs, err.Error())
				seen[path] = digest // do not retry an unchanged bad file
				continue
			}
			seen[path] = digest
			log.InfoContext(ctx, "hook module loaded", slog.String("hook", name), slog.String("file", path), slog.String("sha256", digest))
		}
		if len(errs) > 0 {
			return fmt.Errorf("hooks directory %s: %s", dir, strings.Join(errs, "; "))
		}
		return nil
	}
	if err := scan(); err != nil {
		return nil, err
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := scan(); err != nil {
					log.ErrorContext(ctx, "hooks directory", slog.Any("err", err))
				}
			}
		}
	}()
	return stopped, nil
}
