package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-dev/strata/sdk/storage"
	"github.com/strata-dev/strata/sdk/storagetest"
)

// harness makes stores in real files under a test's temporary directory, so
// they can be reopened.
type harness struct {
	dir  string
	opts Options
}

// newHarness returns a harness maker for stores opened with opts.
func newHarness(opts Options) storagetest.BenchHarnessMaker {
	return func(_ context.Context, tb testing.TB) (storagetest.Harness, error) {
		return &harness{dir: tb.TempDir(), opts: opts}, nil
	}
}

func (h *harness) path() string { return filepath.Join(h.dir, "data", "strata.db") }

func (h *harness) MakeStore(ctx context.Context) (storage.Store, error) {
	return OpenWithOptions(ctx, h.path(), h.opts)
}

func (h *harness) Reopen(ctx context.Context, s storage.Store) (storage.Store, error) {
	if err := s.Close(); err != nil {
		return nil, err
	}
	return h.MakeStore(ctx)
}

func (h *harness) Close() {}

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"default", Options{}},
		{"noGroupCommit", Options{MaxBatchSize: 1}},
		{"smallGroups", Options{MaxBatchSize: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storagetest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (storagetest.Harness, error) {
				return newHarness(tt.opts)(ctx, t)
			})
		})
	}
}

func BenchmarkStore(b *testing.B) {
	storagetest.RunBenchmarks(b, newHarness(Options{}))
}

func BenchmarkStoreNoSync(b *testing.B) {
	storagetest.RunBenchmarks(b, newHarness(Options{NoSync: true}))
}

// BenchmarkGroupCommit measures durable parallel puts with and without group
// commit, and how many Updates share a commit.
func BenchmarkGroupCommit(b *testing.B) {
	for _, maxBatch := range []int{1, DefaultMaxBatchSize} {
		b.Run(fmt.Sprintf("MaxBatchSize=%d", maxBatch), func(b *testing.B) {
			s := openTest(b, Options{MaxBatchSize: maxBatch})
			ctx := b.Context()
			val := bytes.Repeat([]byte{'v'}, 256)
			var next atomic.Uint64
			b.ReportAllocs()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := fmt.Appendf(nil, "key%016d", next.Add(1))
					if err := s.Update(ctx, func(tx storage.Tx) error { return tx.Put("bench", key, val) }); err != nil {
						b.Errorf("Update: %v", err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
			b.ReportMetric(float64(b.N)/float64(max(s.drv.commits.Load(), 1)), "updates/commit")
		})
	}
}

// testStore is a store as users get it, with its driver at hand so tests
// can count commits and watch the committer's queue.
type testStore struct {
	storage.Store
	drv *store
}

// openTest opens a store in a temporary directory and closes it when the
// test ends.
func openTest(tb testing.TB, o Options) *testStore {
	tb.Helper()
	d, err := openDriver(tb.Context(), filepath.Join(tb.TempDir(), "strata.db"), o)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	s := &testStore{Store: storage.New(d), drv: d}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

// holdCommitter starts an Update whose function blocks, so the committer is
// busy and later Updates queue up. It returns once the function is running;
// release lets it finish and returns the Update's result.
func holdCommitter(t *testing.T, s *testStore) (release func() error) {
	t.Helper()
	started := make(chan struct{})
	proceed := make(chan struct{})
	result := make(chan error, 1)
	var once sync.Once
	go func() {
		result <- s.Update(t.Context(), func(tx storage.Tx) error {
			once.Do(func() { close(started) })
			<-proceed
			return tx.Put("hold", []byte("k"), []byte("v"))
		})
	}()
	<-started
	return func() error {
		close(proceed)
		return <-result
	}
}

// waitQueued waits until n Updates are queued for the committer. It yields
// instead of sleeping: the Updates are a few goroutine switches away.
func waitQueued(s *testStore, n int) {
	for len(s.drv.reqs) < n {
		runtime.Gosched()
	}
}

// keys returns the keys of bucket.
func keys(t *testing.T, s *testStore, bucket string) []string {
	t.Helper()
	var out []string
	err := s.View(t.Context(), func(tx storage.Tx) error {
		out = nil
		return tx.Scan(bucket, storage.Range{}, func(k, _ []byte) bool {
			out = append(out, string(k))
			return true
		})
	})
	if err != nil {
		t.Fatalf("scan %s: %v", bucket, err)
	}
	return out
}

func TestGroupCommit(t *testing.T) {
	s := openTest(t, Options{})
	release := holdCommitter(t, s)

	const n = 64
	errs := make(chan error, n)
	var want []string
	for i := range n {
		key := fmt.Sprintf("k%02d", i)
		want = append(want, key)
		go func() {
			errs <- s.Update(t.Context(), func(tx storage.Tx) error {
				return tx.Put("group", []byte(key), []byte("v"))
			})
		}()
	}
	waitQueued(s, n) // all 64 wait while the committer is busy
	if err := release(); err != nil {
		t.Fatalf("held Update: %v", err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Update: %v", err)
		}
	}
	// One commit for the held Update, one for the 64 queued behind it.
	if got := s.drv.commits.Load(); got != 2 {
		t.Errorf("%d Updates took %d commits, want 2 (1 + one group of %d)", n+1, got, n)
	}
	if got := keys(t, s, "group"); !slices.Equal(got, want) {
		t.Errorf("keys = %q, want %q", got, want)
	}
}

func TestMaxBatchSize(t *testing.T) {
	const maxBatch, n = 8, 64
	s := openTest(t, Options{MaxBatchSize: maxBatch})
	release := holdCommitter(t, s)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- s.Update(t.Context(), func(tx storage.Tx) error {
				return tx.Put("b", fmt.Appendf(nil, "k%02d", i), []byte("v"))
			})
		}()
	}
	waitQueued(s, maxBatch)
	if err := release(); err != nil {
		t.Fatalf("held Update: %v", err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Update: %v", err)
		}
	}
	if got, least := s.drv.commits.Load(), uint64(1+n/maxBatch); got < least {
		t.Errorf("%d Updates with MaxBatchSize %d took %d commits, want at least %d", n, maxBatch, got, least)
	}
	if got := keys(t, s, "b"); len(got) != n {
		t.Errorf("%d keys written, want %d", len(got), n)
	}
}

// panicToken is what TestReplay's member panics with.
type panicToken struct{ id int }

func TestReplay(t *testing.T) {
	s := openTest(t, Options{})
	release := holdCommitter(t, s)

	const n, failing, panicking = 10, 3, 6
	errPlanned := errors.New("planned")
	var runs [n]atomic.Int32 // a side effect outside the tx, for observation only
	type result struct {
		err       error
		recovered any
	}
	results := make([]chan result, n)
	for i := range n {
		results[i] = make(chan result, 1)
		go func() {
			var r result
			defer func() {
				r.recovered = recover()
				results[i] <- r
			}()
			r.err = s.Update(t.Context(), func(tx storage.Tx) error {
				runs[i].Add(1)
				if err := tx.Put("members", fmt.Appendf(nil, "m%d", i), []byte("v")); err != nil {
					return err
				}
				switch i {
				case failing:
					return errPlanned
				case panicking:
					panic(&panicToken{id: i})
				}
				return nil
			})
		}()
		waitQueued(s, i+1) // queue them in order, so the replays are predictable
	}
	if err := release(); err != nil {
		t.Fatalf("held Update: %v", err)
	}

	var wantKeys []string
	for i := range n {
		r := <-results[i]
		switch i {
		case failing:
			if !errors.Is(r.err, errPlanned) || r.recovered != nil {
				t.Errorf("member %d: err %v, panic %v; want errPlanned", i, r.err, r.recovered)
			}
		case panicking:
			if tok, _ := r.recovered.(*panicToken); tok == nil || tok.id != i {
				t.Errorf("member %d: err %v, panic %v; want its panic re-raised", i, r.err, r.recovered)
			}
		default:
			if r.err != nil || r.recovered != nil {
				t.Errorf("member %d: err %v, panic %v; want success", i, r.err, r.recovered)
			}
			wantKeys = append(wantKeys, fmt.Sprintf("m%d", i))
		}
	}
	// Pass 1 runs 0-3 and stops at 3's error; pass 2 runs 0-2, 4-6 and stops
	// at 6's panic; pass 3 runs the remaining eight and commits.
	wantRuns := []int32{3, 3, 3, 1, 2, 2, 1, 1, 1, 1}
	for i := range n {
		if got := runs[i].Load(); got != wantRuns[i] {
			t.Errorf("member %d ran %d times, want %d", i, got, wantRuns[i])
		}
	}
	if got := s.drv.commits.Load(); got != 2 {
		t.Errorf("commits = %d, want 2: the held Update and one for the group", got)
	}
	if got := keys(t, s, "members"); !slices.Equal(got, wantKeys) {
		t.Errorf("keys = %q, want %q: exactly the succeeding members", got, wantKeys)
	}
}

func TestCancelWhileQueued(t *testing.T) {
	s := openTest(t, Options{})
	release := holdCommitter(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	var called atomic.Bool
	errc := make(chan error, 1)
	go func() {
		errc <- s.Update(ctx, func(tx storage.Tx) error {
			called.Store(true)
			return tx.Put("b", []byte("k"), []byte("v"))
		})
	}()
	waitQueued(s, 1)
	cancel() // after queueing, before the committer reaches it
	if err := release(); err != nil {
		t.Fatalf("held Update: %v", err)
	}
	if err := <-errc; !errors.Is(err, context.Canceled) || called.Load() {
		t.Errorf("Update cancelled while queued = %v, fn called %v; want context.Canceled without calling fn", err, called.Load())
	}
	if got := keys(t, s, "b"); len(got) != 0 {
		t.Errorf("keys = %q, want none", got)
	}
}

func TestGoexit(t *testing.T) {
	s := openTest(t, Options{})
	release := holdCommitter(t, s)
	errs := make([]chan error, 3)
	for i := range errs {
		errs[i] = make(chan error, 1)
		go func() {
			errs[i] <- s.Update(t.Context(), func(tx storage.Tx) error {
				if err := tx.Put("b", fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
					return err
				}
				if i == 1 {
					runtime.Goexit() // as t.FailNow would, on the committer
				}
				return nil
			})
		}()
		waitQueued(s, i+1)
	}
	if err := release(); err != nil {
		t.Fatalf("held Update: %v", err)
	}
	for i, ch := range errs {
		err := <-ch
		if i == 1 {
			if !errors.Is(err, errGoexit) {
				t.Errorf("Update calling runtime.Goexit = %v, want errGoexit", err)
			}
		} else if err != nil {
			t.Errorf("Update %d = %v, want nil", i, err)
		}
	}
	// A new committer took over.
	if err := s.Update(t.Context(), func(tx storage.Tx) error {
		return tx.Put("b", []byte("after"), []byte("v"))
	}); err != nil {
		t.Fatalf("Update after Goexit: %v", err)
	}
	if got, want := keys(t, s, "b"), []string{"after", "k0", "k2"}; !slices.Equal(got, want) {
		t.Errorf("keys = %q, want %q", got, want)
	}
}

func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "strata.db")
	first, err := OpenWithOptions(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("first open: %v", err)
	}
	for _, timeout := range []time.Duration{20 * time.Millisecond, -1} {
		t.Run(fmt.Sprint(timeout), func(t *testing.T) {
			s, err := OpenWithOptions(t.Context(), path, Options{Timeout: timeout})
			if err == nil {
				s.Close()
				t.Fatal("second open of a locked file succeeded")
			}
			if !errors.Is(err, ErrLocked) {
				t.Errorf("second open = %v, want errors.Is(err, ErrLocked)", err)
			}
			if msg := err.Error(); !strings.Contains(msg, path+" is locked by another process") {
				t.Errorf("error %q does not name the file and the lock", msg)
			}
		})
	}
	if err := first.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	second, err := OpenWithOptions(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("open after the holder closed: %v", err)
	}
	if err := second.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestOpenCreatesDirectoriesAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "strata.db")
	s, err := OpenWithOptions(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); !di.IsDir() || perm&^0o755 != 0 || perm&0o700 != 0o700 {
		t.Errorf("directory mode = %v, want 0755 less the umask", di.Mode())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode = %v, want 0600", perm)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		path string
		want error // nil: any error
	}{
		{"emptyPath", t.Context(), "", storage.ErrInvalid},
		{"cancelledContext", cancelled, filepath.Join(dir, "x.db"), context.Canceled},
		{"parentIsAFile", t.Context(), filepath.Join(file, "strata.db"), nil},
		{"pathIsADirectory", t.Context(), dir, nil},
		{"notABoltFile", t.Context(), file, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenWithOptions(tt.ctx, tt.path, Options{})
			if err == nil {
				s.Close()
				t.Fatalf("open %q succeeded, want an error", tt.path)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("open %q = %v, want errors.Is(err, %v)", tt.path, err, tt.want)
			}
			if tt.path != "" && !strings.Contains(err.Error(), tt.path) && tt.want == nil {
				t.Errorf("error %q does not name the path", err)
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	var reg storage.Registry
	reg.Register("bolt", Open)
	path := filepath.Join(t.TempDir(), "data", "strata.db")
	s, err := reg.Open(t.Context(), "bolt:"+path, storage.OpenOptions{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := s.Update(t.Context(), func(tx storage.Tx) error {
		return tx.Put("b", []byte("k"), []byte("v"))
	}); err != nil {
		t.Fatalf("update: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("store file: %v", err)
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "strata.db"), storage.OpenOptions{Logger: log})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := s.Update(t.Context(), func(tx storage.Tx) error {
		return tx.Put("b", []byte("k"), []byte("v"))
	}); err != nil {
		t.Fatalf("update: %v", err)
	}
	if err := s.Close(); err != nil { // the committer has stopped: buf is ours
		t.Fatalf("close: %v", err)
	}
	for _, want := range []string{"opened bolt store", "bolt group commit", "updates=1", "closed bolt store"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
}
