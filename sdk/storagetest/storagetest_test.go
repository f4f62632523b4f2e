package storagetest_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/strata-dev/strata/sdk/storage"
	"github.com/strata-dev/strata/sdk/storage/driver"
	"github.com/strata-dev/strata/sdk/storagetest"
)

// flawEnv names the flaw TestConformance builds into its driver. It is set
// only for the child processes of TestBrokenBackendsFail.
const flawEnv = "STORAGETEST_FLAW"

// Flaws a mapDriver can have, each breaking one rule of the contract.
const (
	flawNone           = ""
	flawScanIgnoresEnd = "scanIgnoresEnd" // Scan runs past Range.End
	flawNoRollback     = "noRollback"     // a failed Update is committed anyway
	flawMissingIsEmpty = "missingIsEmpty" // Get of a missing key returns an empty value
)

// data is a committed state: bucket → key → value. It is never changed once
// published.
type data map[string]map[string][]byte

// mapDriver is a deliberately simple driver: Updates run one at a time on a
// copy of the committed maps and publish it; Views read the published maps.
// With a flaw it breaks the contract on purpose.
type mapDriver struct {
	flaw   string
	writer chan struct{} // one-slot semaphore for Updates
	head   atomic.Pointer[data]
}

func newMapDriver(flaw string) *mapDriver {
	d := &mapDriver{flaw: flaw, writer: make(chan struct{}, 1)}
	d.head.Store(&data{})
	return d
}

func (d *mapDriver) View(_ context.Context, fn func(driver.Tx) error) error {
	return fn(&mapTx{d: d, data: *d.head.Load()})
}

func (d *mapDriver) Update(ctx context.Context, fn func(driver.Tx) error) error {
	select {
	case d.writer <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-d.writer }()
	next := data{}
	for b, kv := range *d.head.Load() {
		next[b] = maps.Clone(kv)
	}
	err := fn(&mapTx{d: d, data: next})
	if err == nil || d.flaw == flawNoRollback {
		d.head.Store(&next)
	}
	return err
}

func (d *mapDriver) Close() error { return nil }

type mapTx struct {
	d    *mapDriver
	data data
}

func (t *mapTx) Get(bucket string, key []byte) ([]byte, error) {
	v, ok := t.data[bucket][string(key)]
	if !ok {
		if t.d.flaw == flawMissingIsEmpty {
			return []byte{}, nil
		}
		return nil, driver.ErrNotFound
	}
	return v, nil
}

func (t *mapTx) Put(bucket string, key, value []byte) error {
	if t.data[bucket] == nil {
		t.data[bucket] = map[string][]byte{}
	}
	t.data[bucket][string(key)] = bytes.Clone(value)
	return nil
}

func (t *mapTx) Delete(bucket string, key []byte) error {
	delete(t.data[bucket], string(key))
	return nil
}

func (t *mapTx) DeleteBucket(bucket string) error {
	delete(t.data, bucket)
	return nil
}

func (t *mapTx) Scan(bucket string, r driver.Range, fn func(key, value []byte) bool) error {
	kv := t.data[bucket]
	var keys []string
	for k := range kv { // collected first, so fn may write to the tx
		if r.Start != nil && k < string(r.Start) {
			continue
		}
		if r.End != nil && k >= string(r.End) && t.d.flaw != flawScanIgnoresEnd {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if r.Reverse {
		slices.Reverse(keys)
	}
	for _, k := range keys {
		if !fn([]byte(k), kv[k]) {
			break
		}
	}
	return nil
}

type harness struct{ flaw string }

func (h harness) MakeStore(context.Context) (storage.Store, error) {
	return storage.New(newMapDriver(h.flaw)), nil
}

func (harness) Close() {}

// TestConformance runs the suite against mapDriver: without a flaw it must
// pass, which shows the suite demands nothing of a driver that the
// portable Store does not need. TestBrokenBackendsFail runs it again in
// child processes with flaws.
func TestConformance(t *testing.T) {
	flaw := os.Getenv(flawEnv)
	storagetest.RunConformanceTests(t, func(context.Context, *testing.T) (storagetest.Harness, error) {
		return harness{flaw: flaw}, nil
	})
}

// TestBrokenBackendsFail runs the suite against drivers that each break one
// rule, and requires it to fail the check for that rule. The suite takes a
// *testing.T, so it runs in a child process of this test binary, whose
// failure is then read from its exit status and output.
func TestBrokenBackendsFail(t *testing.T) {
	if os.Getenv(flawEnv) != "" {
		t.Skip("running as the child of TestBrokenBackendsFail")
	}
	tests := []struct {
		flaw      string
		wantFails []string // checks that must fail
	}{
		{flawScanIgnoresEnd, []string{"ScanRange", "ScanPrefix"}},
		{flawNoRollback, []string{"UpdateErrorRollsBack"}},
		{flawMissingIsEmpty, []string{"GetMissingKey", "GetMissingBucket", "Delete"}},
	}
	for _, tt := range tests {
		t.Run(tt.flaw, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestConformance$", "-test.count=1")
			cmd.Env = append(os.Environ(), flawEnv+"="+tt.flaw)
			out, err := cmd.CombinedOutput()
			if exit, ok := errors.AsType[*exec.ExitError](err); !ok || exit.ExitCode() != 1 {
				t.Fatalf("suite against a driver with flaw %s: err = %v, want exit status 1 (failed tests); output:\n%s", tt.flaw, err, out)
			}
			for _, check := range tt.wantFails {
				if line := "--- FAIL: TestConformance/" + check + " "; !strings.Contains(string(out), line) {
					t.Errorf("flaw %s: output lacks %q; output:\n%s", tt.flaw, line, out)
				}
			}
		})
	}
}
