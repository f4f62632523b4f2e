package core_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"testing"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
)

// genExport writes, on demand, an export of resources resources of type
// items with revs revisions each, without ever holding more than a line:
// the input of the big import, made as fast as it is read.
type genExport struct {
	resources, revs int
	next            int
	buf             bytes.Buffer
	line            []byte
	onRead          func() // called every read
}

func (g *genExport) Read(p []byte) (int, error) {
	if g.onRead != nil {
		g.onRead()
	}
	for g.buf.Len() < len(p) && g.next < g.resources {
		g.buf.Write(g.appendLine(g.line[:0], g.next))
		g.next++
	}
	if g.buf.Len() == 0 {
		return 0, io.EOF
	}
	return g.buf.Read(p)
}

func (g *genExport) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekStart {
		return 0, errors.New("genExport: only rewinds")
	}
	g.next = 0
	g.buf.Reset()
	return 0, nil
}

const genTime = `"2026-01-02T03:04:05.678Z"`

func (g *genExport) appendLine(dst []byte, i int) []byte {
	dst = fmt.Appendf(dst, `{"kind":"resource","type":"items","id":"r%08d","meta":{"current_revision":%d,"revision_count":%d,"created_at":%s,"created_by":"gen","updated_at":%s,"updated_by":"gen","deleted":false,"schema_version":1},"revisions":[`,
		i, g.revs, g.revs, genTime, genTime)
	var data []byte
	for k := 1; k <= g.revs; k++ {
		if k > 1 {
			dst = append(dst, ',')
		}
		data = fmt.Appendf(data[:0], `{"k":%d,"title":"item %d at revision %d"}`, k, i, k)
		sum := sha256.Sum256(data)
		parent, action := "null", "create"
		if k > 1 {
			parent, action = strconv.Itoa(k-1), "update"
		}
		dst = fmt.Appendf(dst, `{"number":%d,"parent":%s,"created_at":%s,"created_by":"gen","data_hash":"sha256:%s","action":"%s","hooks":[],"schema_version":1,"data":%s}`,
			k, parent, genTime, hex.EncodeToString(sum[:]), action, data)
	}
	return append(dst, "]}\n"...)
}

// heapProbe records the most live heap seen at its samples, after a
// collection, above the baseline taken when it was made.
type heapProbe struct {
	base, peak uint64
	calls      int
}

func newHeapProbe() *heapProbe {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return &heapProbe{base: ms.HeapInuse}
}

// sample measures every 64th call.
func (h *heapProbe) sample() {
	h.calls++
	if h.calls%64 != 0 {
		return
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > h.base && ms.HeapInuse-h.base > h.peak {
		h.peak = ms.HeapInuse - h.base
	}
}

// countingWriter counts the bytes and lines written to it and samples the
// heap as they come.
type countingWriter struct {
	n, lines int64
	probe    *heapProbe
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	c.lines += int64(bytes.Count(p, []byte{'\n'}))
	c.probe.sample()
	return len(p), nil
}

// TestExportImportBoundedMemory imports and then exports a million
// revisions (10,000 resources of 100 revisions; a tenth of that with
// -short, 30,000 under -race) through a bolt store, and checks that the live heap
// never grows by more than a few pages while the data is far bigger.
func TestExportImportBoundedMemory(t *testing.T) {
	resources, revs := 10_000, 100
	switch {
	case raceEnabled:
		resources = 300 // the race detector makes hashing many times slower
	case testing.Short():
		resources = 1_000
	}
	env := apptest.New(t)
	m := env.Manager
	ctx := core.AsSystem(t.Context())
	if _, err := m.CreateType(ctx, core.Type{Name: "items", Schema: []byte(`{"type":"object"}`)}); err != nil {
		t.Fatal(err)
	}
	const bound = 64 << 20

	probe := newHeapProbe()
	gen := &genExport{resources: resources, revs: revs, onRead: probe.sample}
	res, err := m.Import(ctx, gen, core.ImportOptions{Type: "items"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resources != resources || res.Revisions != resources*revs {
		t.Fatalf("imported %+v", res)
	}
	t.Logf("import of %d revisions: live heap grew by at most %.1f MiB", res.Revisions, float64(probe.peak)/(1<<20))
	if probe.peak > bound {
		t.Fatalf("import: the live heap grew by %d bytes, over %d", probe.peak, bound)
	}

	probe = newHeapProbe()
	w := &countingWriter{probe: probe}
	exp, err := m.Export(ctx, w, core.ExportOptions{Type: "items"})
	if err != nil {
		t.Fatal(err)
	}
	if exp.Revisions != resources*revs || w.lines != int64(resources) {
		t.Fatalf("exported %+v in %d lines", exp, w.lines)
	}
	t.Logf("export of %d revisions (%d MiB): live heap grew by at most %.1f MiB", exp.Revisions, w.n>>20, float64(probe.peak)/(1<<20))
	if probe.peak > bound || uint64(w.n) < 4*probe.peak {
		t.Fatalf("export: the live heap grew by %d bytes for %d bytes written", probe.peak, w.n)
	}
}
