//go:build linux

package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/strata-dev/strata/server"
)

// transferBenchResources is the size of the data set of the transfer
// benchmarks (the 100,000 resources).
const transferBenchResources = 100_000

// benchExport makes an export of n resources of type items, 2 revisions
// each of about 300 bytes of data.
func benchExport(n int) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"kind":"type","definition":{"name":"items","schema":{"type":"object"},"search":["title"]}}` + "\n")
	pad := strings.Repeat("lorem ipsum ", 20)
	for i := range n {
		fmt.Fprintf(&buf, `{"kind":"resource","type":"items","id":"i%07d","meta":{"current_revision":2,"revision_count":2,"created_at":"2026-01-01T00:00:00.000Z","created_by":"bench","updated_at":"2026-01-01T00:00:01.000Z","updated_by":"bench","deleted":false,"schema_version":1},"revisions":[`, i)
		for k := 1; k <= 2; k++ {
			data := fmt.Sprintf(`{"body":%q,"k":%d,"title":"item %d"}`, pad, k, i)
			sum := sha256.Sum256([]byte(data))
			parent, action := "null", "create"
			if k == 2 {
				parent, action = "1", "update"
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `{"number":%d,"parent":%s,"created_at":"2026-01-01T00:00:0%d.000Z","created_by":"bench","data_hash":"sha256:%s","action":"%s","hooks":[],"schema_version":1,"data":%s}`,
				k, parent, k-1, hex.EncodeToString(sum[:]), action, data)
		}
		buf.WriteString("]}\n")
	}
	return buf.Bytes()
}

// BenchmarkTransfer measures, at 100,000 resources (200,000 revisions)
// through HTTP: import into an empty server and export, in resources/s;
// an online backup; and the throughput of 16 writers while backups run
// back to back against the same writers without, as a ratio.
func BenchmarkTransfer(b *testing.B) {
	file := benchExport(transferBenchResources)
	opts := func(o *server.Options) { o.ImportLimit = 1 << 30 }
	src := newTestServer(b, opts)

	b.Run("import", func(b *testing.B) {
		for b.Loop() {
			dst := newTestServer(b, opts)
			start := time.Now()
			dst.must(200, "POST", "/api/import", file, "Content-Type", "application/x-ndjson")
			b.ReportMetric(float64(transferBenchResources)/time.Since(start).Seconds(), "resources/s")
			dst.stop()
		}
	})
	src.must(200, "POST", "/api/import", file, "Content-Type", "application/x-ndjson")

	b.Run("export", func(b *testing.B) {
		for b.Loop() {
			start := time.Now()
			r := src.must(200, "GET", "/api/export", nil)
			b.ReportMetric(float64(transferBenchResources)/time.Since(start).Seconds(), "resources/s")
			b.ReportMetric(float64(len(r.Body))/(1<<20), "MiB")
		}
	})
	b.Run("backup", func(b *testing.B) {
		for b.Loop() {
			start := time.Now()
			n := backupOnce(b, src)
			b.ReportMetric(time.Since(start).Seconds(), "s/backup")
			b.ReportMetric(float64(n)/(1<<20), "MiB")
		}
	})
	b.Run("writers-during-backup", func(b *testing.B) {
		for b.Loop() {
			const window = 3 * time.Second
			without := writeFor(b, src, window, nil)
			var backups atomic.Int64
			with := writeFor(b, src, window, func(stop <-chan struct{}) {
				// The backup's client stands for another machine: it
				// reads on a thread of the lowest priority, as the
				// server copies.
				runtime.LockOSThread()
				_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19)
				for {
					select {
					case <-stop:
						return
					default:
					}
					backupOnce(b, src)
					backups.Add(1)
				}
			})
			after := writeFor(b, src, window, nil)
			alone := (without + after) / 2 // before and after: the machine drifts
			b.ReportMetric(alone/window.Seconds(), "writes/s-alone")
			b.ReportMetric(with/window.Seconds(), "writes/s-during-backup")
			b.ReportMetric(with/alone, "ratio")
			b.ReportMetric(float64(backups.Load()), "backups")
		}
	})
}

// backupOnce downloads a backup and returns its size.
func backupOnce(b *testing.B, ts *testServer) int64 {
	req, _ := http.NewRequest("GET", ts.URL+"/api/backup", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := ts.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("backup: %d %v", resp.StatusCode, err)
	}
	return n
}

// writeFor runs 16 writers creating resources for d, with during running
// meanwhile until they stop, and returns the writes acknowledged.
func writeFor(b *testing.B, ts *testServer, d time.Duration, during func(stop <-chan struct{})) float64 {
	stop := make(chan struct{})
	var n atomic.Int64
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"title":"w%d-%d","body":"written during the benchmark"}`, w, i)
				req, _ := http.NewRequest("POST", ts.URL+"/api/items", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+testAdminKey)
				resp, err := ts.client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 201 {
					n.Add(1)
				}
			}
		})
	}
	var bg sync.WaitGroup
	if during != nil {
		bg.Go(func() { during(stop) })
	}
	time.Sleep(d) // a measuring window, in a benchmark
	close(stop)
	wg.Wait()
	bg.Wait()
	return float64(n.Load())
}
