package main

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

// TestServeBlobsAndMetrics runs strata serve: a blob uploaded survives a
// restart, /metrics answers the metrics token with the storage size, and
// metrics: false turns /metrics off.
func TestServeBlobsAndMetrics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const token = "serve-metrics-token-0123"
	env := []string{"STRATA_ADMIN_KEY=" + adminKey, "STRATA_METRICS_TOKEN=" + token}
	p := startServerEnv(t, dir, env)
	status, body := call(t, "POST", p.url+"/api/blobs", "some bytes")
	if status != http.StatusCreated || !strings.Contains(string(body), `"hash":"sha256:`) {
		t.Fatalf("upload: %d %s", status, body)
	}
	hash := strings.Split(strings.Split(string(body), `"hash":"`)[1], `"`)[0]
	req, _ := http.NewRequest("GET", p.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_, _ = ioCopy(&b, resp)
	if resp.StatusCode != 200 || !strings.Contains(b.String(), "strata_storage_size_bytes ") ||
		!strings.Contains(b.String(), `strata_http_requests_total{method="POST",route="/api/blobs",status="201"} 1`) {
		t.Fatalf("metrics: %d\n%s", resp.StatusCode, b.String())
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	p = startServerEnv(t, dir, env, "--metrics=false")
	if status, body := call(t, "GET", p.url+"/api/blobs/"+hash, ""); status != 200 || string(body) != "some bytes" {
		t.Fatalf("after a restart: %d %q", status, body)
	}
	if status, _ := call(t, "GET", p.url+"/metrics", ""); status != http.StatusNotFound {
		t.Fatalf("metrics off: /metrics %d", status)
	}
}

func ioCopy(b *strings.Builder, resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	return io.Copy(b, resp.Body)
}
