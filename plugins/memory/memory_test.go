package memory_test

import (
	"context"
	"testing"

	"github.com/strata-dev/strata/plugins/memory"
	"github.com/strata-dev/strata/sdk/storage"
	"github.com/strata-dev/strata/sdk/storagetest"
)

// harness makes independent in-memory stores; there is nothing to clean up
// and nothing to reopen.
type harness struct{}

func newHarness(context.Context, testing.TB) (storagetest.Harness, error) {
	return harness{}, nil
}

func (harness) MakeStore(ctx context.Context) (storage.Store, error) {
	return memory.Open(ctx, "", storage.OpenOptions{})
}

func (harness) Close() {}

func TestConformance(t *testing.T) {
	storagetest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (storagetest.Harness, error) {
		return newHarness(ctx, t)
	})
}

func BenchmarkStore(b *testing.B) {
	storagetest.RunBenchmarks(b, newHarness)
}
