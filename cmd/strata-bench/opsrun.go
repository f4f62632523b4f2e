package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The operations run (SPEC §9): blob upload and download throughput of
// 1 MiB and 100 MiB files against a plain copy of the same file on the
// same disk, and the CPU per request /metrics costs (request metrics on
// against `metrics: false`, same load, same run).

// blobSizes are the blob sizes measured, with how many of each are
// uploaded and downloaded per pass.
var blobSizes = []struct {
	size  int64
	count int
}{{1 << 20, 64}, {100 << 20, 3}}

// blobTarget is the throughput target against a plain file copy.
const blobTarget = 0.5

// metricsTarget is the largest share of CPU per request metrics may add.
const metricsTarget = 0.03

// opsResult is what the operations run measured.
type opsResult struct {
	Blobs   []blobRow   `json:"blobs"`
	Metrics *metricsRow `json:"metrics,omitempty"`
}

// blobRow is the throughput of one blob size, in bytes per second.
type blobRow struct {
	Size     int64   `json:"size"`
	Count    int     `json:"count"`
	Upload   float64 `json:"upload_bps"`
	CopyIn   float64 `json:"copy_in_bps"` // write a copy of the file and fsync it
	Download float64 `json:"download_bps"`
	CopyOut  float64 `json:"copy_out_bps"` // read the file
}

// metricsRow compares the server CPU per read with metrics off and on.
type metricsRow struct {
	Off      result  `json:"off"`
	On       result  `json:"on"`
	Overhead float64 `json:"overhead"` // on ÷ off − 1, of CPU per request
}

// opsRun runs the blob and metrics measurements.
func (b *bench) opsRun(ctx context.Context) (r opsResult, err error) {
	if r.Blobs, err = b.blobRun(ctx); err != nil {
		return r, fmt.Errorf("blobs: %w", err)
	}
	m, err := b.metricsRun(ctx)
	if err != nil {
		return r, fmt.Errorf("metrics: %w", err)
	}
	r.Metrics = &m
	return r, nil
}

func (b *bench) blobRun(ctx context.Context) (rows []blobRow, err error) {
	strata, data, err := b.startStrata(ctx, "blobs", fmt.Sprintf("STRATA_BLOB_LIMIT=%d", 128<<20))
	if err != nil {
		return nil, err
	}
	defer stopChild(strata, &err)
	src := filepath.Join(b.dir, "blob-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 10 * time.Minute}
	for _, bs := range blobSizes {
		fmt.Fprintf(b.log, "strata-bench: blobs: %d uploads and downloads of %s\n", bs.count, fmtBytes(bs.size))
		files := make([]string, bs.count)
		for i := range files {
			files[i] = filepath.Join(src, fmt.Sprintf("%d-%d", bs.size, i))
			if err := randomFile(files[i], bs.size); err != nil {
				return nil, err
			}
		}
		row := blobRow{Size: bs.size, Count: bs.count}
		total := float64(bs.size) * float64(bs.count)
		// Each file is copied (the same bytes into a file on the same
		// disk, fsynced as an upload is) right before it is uploaded, and
		// read right before it is downloaded, so that the disk's and the
		// machine's drift weighs on both alike.
		dst := filepath.Join(data, "copy")
		hashes := make([]string, len(files))
		var copyIn, upload, copyOut, download time.Duration
		for i, f := range files {
			start := time.Now()
			if err := copyFile(f, dst); err != nil {
				return nil, err
			}
			copyIn += time.Since(start)
			_ = os.Remove(dst)
			start = time.Now()
			if hashes[i], err = b.uploadBlob(ctx, client, strata.addr, f, bs.size); err != nil {
				return nil, err
			}
			upload += time.Since(start)
		}
		for i, f := range files {
			start := time.Now()
			if err := readFile(f); err != nil {
				return nil, err
			}
			copyOut += time.Since(start)
			start = time.Now()
			if err := b.downloadBlob(ctx, client, strata.addr, hashes[i], bs.size); err != nil {
				return nil, err
			}
			download += time.Since(start)
		}
		row.CopyIn, row.Upload = total/copyIn.Seconds(), total/upload.Seconds()
		row.CopyOut, row.Download = total/copyOut.Seconds(), total/download.Seconds()
		for _, f := range files {
			_ = os.Remove(f)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func randomFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

func (b *bench) uploadBlob(ctx context.Context, client *http.Client, addr, path string, size int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/api/blobs", f)
	if err != nil {
		return "", err
	}
	req.ContentLength = size
	req.Header.Set("Authorization", b.auth())
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("upload: status %d: %s", resp.StatusCode, body)
	}
	var up struct {
		Hash string `json:"hash"`
		Size int64  `json:"size"`
	}
	if err := json.Unmarshal(body, &up); err != nil || up.Size != size {
		return "", fmt.Errorf("upload: answer %s", body)
	}
	return up.Hash, nil
}

func (b *bench) downloadBlob(ctx context.Context, client *http.Client, addr, hash string, size int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/blobs/"+hash, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", b.auth())
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || n != size {
		return fmt.Errorf("download: status %d, %d bytes, %v", resp.StatusCode, n, err)
	}
	return nil
}

// metricsRun measures reads of random ids on two fresh servers, one with
// metrics off and one with them on, alternating, and compares the server
// CPU per request.
func (b *bench) metricsRun(ctx context.Context) (m metricsRow, err error) {
	off, _, err := b.startStrata(ctx, "metrics-off", "STRATA_METRICS=false")
	if err != nil {
		return m, err
	}
	defer stopChild(off, &err)
	on, _, err := b.startStrata(ctx, "metrics-on", "STRATA_METRICS=true")
	if err != nil {
		return m, err
	}
	defer stopChild(on, &err)
	if status, _, err := b.call(on.addr, "GET", "/metrics", nil); err != nil || status != http.StatusOK {
		return m, fmt.Errorf("GET /metrics on the server with metrics: %d %v", status, err)
	}
	if status, _, _ := b.call(off.addr, "GET", "/metrics", nil); status == http.StatusOK {
		return m, fmt.Errorf("metrics: false still serves /metrics")
	}
	// Each server reads ids of its own.
	saved := b.ids
	defer func() { b.ids = saved }()
	idsOf := map[*child][]string{}
	for _, c := range []*child{off, on} {
		b.ids = nil
		if err := b.ensureIDs(ctx, c.addr); err != nil {
			return m, err
		}
		idsOf[c] = b.ids
	}
	fmt.Fprintf(b.log, "strata-bench: metrics: reads with metrics off and on, %d rounds\n", 4)
	var offSum, onSum result
	for round := range 4 {
		order := []*child{off, on}
		if round%2 == 1 {
			order = []*child{on, off}
		}
		for _, c := range order {
			b.ids = idsOf[c]
			res, err := measure(ctx, c, load{auth: b.auth(), clients: b.opts.concurrency, warmup: b.opts.warmup,
				duration: b.opts.duration, build: b.buildGet})
			if err != nil {
				return m, err
			}
			sum := &offSum
			if c == on {
				sum = &onSum
			}
			addResult(sum, res)
		}
	}
	finishResult(&offSum)
	finishResult(&onSum)
	m.Off, m.On = offSum, onSum
	if offSum.ServerCPU > 0 {
		m.Overhead = float64(onSum.ServerCPU)/float64(offSum.ServerCPU) - 1
	}
	return m, nil
}

// addResult accumulates res into sum: requests, errors, time and the
// server CPU (as a total until finishResult).
func addResult(sum *result, res result) {
	sum.Requests += res.Requests
	sum.Sent += res.Sent
	sum.Errors += res.Errors
	sum.Elapsed += res.Elapsed
	sum.ServerCPU += res.ServerCPU * time.Duration(res.Sent)
	sum.P50 = max(sum.P50, res.P50)
	sum.P99 = max(sum.P99, res.P99)
}

func finishResult(sum *result) {
	if sum.Sent > 0 {
		sum.ServerCPU /= time.Duration(sum.Sent)
	}
	if sum.Elapsed > 0 {
		sum.RPS = float64(sum.Requests) / sum.Elapsed.Seconds()
	}
}

// writeOps writes the operations section.
func writeOps(b *strings.Builder, r opsResult) {
	fmt.Fprintf(b, "\n### Blobs and metrics\n\n")
	mbs := func(bps float64) string { return fmt.Sprintf("%.0f MiB/s", bps/(1<<20)) }
	rows := [][]string{{"Blob size", "Count", "Upload", "Plain copy (write+fsync)", "Ratio", "Download", "Plain read", "Ratio", "Target"}}
	for _, x := range r.Blobs {
		rows = append(rows, []string{fmtBytes(x.Size), fmt.Sprint(x.Count),
			mbs(x.Upload), mbs(x.CopyIn), fmt.Sprintf("%.2f× %s", x.Upload/x.CopyIn, verdict(x.Upload/x.CopyIn, blobTarget)),
			mbs(x.Download), mbs(x.CopyOut), fmt.Sprintf("%.2f× %s", x.Download/x.CopyOut, verdict(x.Download/x.CopyOut, blobTarget)),
			fmt.Sprintf("≥ %.1f×", blobTarget)})
	}
	writeTable(b, "rrrrrrrrr", rows)
	fmt.Fprintf(b, "\nOne client, one blob at a time, over loopback; each upload follows a plain copy of the same file on the same disk "+
		"(write and fsync), each download a plain read of it (from the page cache, as the downloads are). "+
		"An upload syncs its file, its directory and the store's commit; the copy syncs its file.\n")
	if m := r.Metrics; m != nil {
		fmt.Fprintf(b, "\n")
		overhead := fmt.Sprintf("%+.1f%%", m.Overhead*100)
		result := "met"
		if m.Overhead > metricsTarget {
			result = "MISSED"
		}
		writeTable(b, "lrrrrl", [][]string{
			{"Reads of random ids", "Metrics off CPU/req", "Metrics on CPU/req", "CPU overhead", "Target", "Result"},
			{"4 alternating rounds", fmtLatency(m.Off.ServerCPU), fmtLatency(m.On.ServerCPU),
				overhead, fmt.Sprintf("≤ %.0f%%", metricsTarget*100), result},
		})
		fmt.Fprintf(b, "\nTwo fresh servers, one with `metrics: false`; server CPU time (user+system) per request. req/s off %s, on %s.\n",
			fmtCount(m.Off.RPS), fmtCount(m.On.RPS))
	}
}
