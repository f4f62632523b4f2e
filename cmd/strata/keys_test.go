package main

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestKeysCommand: a first start without an administrator says how to make
// one; `strata keys create --admin` makes one offline, and its token then
// works against the server; revoking it offline locks it out.
func TestKeysCommand(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	p := startServerEnv(t, data, nil)
	waitForLog(t, p, "strata keys create --admin")
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}

	out, err := exec.Command(strataBin, "keys", "create", "--admin", "--name", "root", "--data", data).Output()
	if err != nil {
		t.Fatalf("keys create: %v", err)
	}
	token := strings.TrimSpace(string(out))
	if !strings.HasPrefix(token, "sk_") {
		t.Fatalf("keys create printed %q", out)
	}
	list, err := exec.Command(strataBin, "keys", "list", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(list), "root") || !strings.Contains(string(list), "admin") || strings.Contains(string(list), token) {
		t.Fatalf("keys list: %v\n%s", err, list)
	}
	id := strings.Split(strings.TrimPrefix(token, "sk_"), "_")[0]

	p = startServerEnv(t, data, nil)
	if strings.Contains(p.logText(), "no administrator") {
		t.Fatalf("warned although an admin key exists:\n%s", p.logText())
	}
	post := func(tok string) int {
		req, _ := http.NewRequest("POST", p.url+"/api/types", strings.NewReader(`{"name":"things","schema":{"type":"object"}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post(token); st != 201 {
		t.Fatalf("admin key from the CLI: %d", st)
	}
	// While the server runs, the CLI refuses and points at the API.
	if out, err := exec.Command(strataBin, "keys", "list", "--data", data).CombinedOutput(); err == nil || !strings.Contains(string(out), "/api/keys") {
		t.Fatalf("keys list on a locked store: %v\n%s", err, out)
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(strataBin, "keys", "revoke", id, "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("keys revoke: %v\n%s", err, out)
	}
	p = startServerEnv(t, data, nil)
	if st := post(token); st != 401 {
		t.Fatalf("revoked key: %d", st)
	}
}
