package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.etcd.io/bbolt"
)

// The commands that move data through a running server's API: strata
// export, strata import and strata backup (SPEC §6, §9). They authenticate
// with STRATA_TOKEN, or else STRATA_ADMIN_KEY; all three take an
// administrator.

// defaultURL is where the transfer commands find the server by default:
// strata serve's default address.
const defaultURL = "http://127.0.0.1:8080"

// transferClient has no overall timeout: an export or a backup takes as
// long as the data takes.
var transferClient = &http.Client{}

// apiToken is the bearer token the commands send.
func apiToken() string {
	if t := os.Getenv("STRATA_TOKEN"); t != "" {
		return t
	}
	return os.Getenv("STRATA_ADMIN_KEY")
}

// apiRequest sends a request to the server at base and returns the
// response when its status is want, or an error naming the server's
// problem.
func apiRequest(ctx context.Context, method, base, path string, body io.Reader, contentType string, want int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, body)
	if err != nil {
		return nil, err
	}
	if t := apiToken(); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := transferClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		defer resp.Body.Close()
		var p struct {
			Detail string `json:"detail"`
		}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = json.Unmarshal(raw, &p)
		if p.Detail == "" {
			p.Detail = strings.TrimSpace(string(raw))
		}
		if resp.StatusCode == http.StatusUnauthorized && apiToken() == "" {
			p.Detail += " (set STRATA_TOKEN to an administrator's key)"
		}
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, p.Detail)
	}
	return resp, nil
}

func exportCommand() *cobra.Command {
	var base, typ string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the resources of a running server, with every revision, to stdout as NDJSON",
		Long: `Export writes every type's definition and every resource with all its
revisions (or, with --type, one type's resources) to stdout, one JSON
document a line, as GET /api/export does. strata import reads it back.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/api/export"
			if typ != "" {
				path = "/api/" + url.PathEscape(typ) + "/export"
			}
			resp, err := apiRequest(cmd.Context(), http.MethodGet, base, path, nil, "", http.StatusOK)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			defer resp.Body.Close()
			out := bufio.NewWriterSize(cmd.OutOrStdout(), 256<<10)
			if _, err := io.Copy(out, resp.Body); err != nil {
				return fmt.Errorf("export: the server's answer was cut off: %w", err)
			}
			return out.Flush()
		},
	}
	cmd.Flags().StringVar(&base, "url", defaultURL, "base URL of the running server (token from STRATA_TOKEN or STRATA_ADMIN_KEY)")
	cmd.Flags().StringVar(&typ, "type", "", "export only this type's resources (without its definition)")
	return cmd
}

func importCommand() *cobra.Command {
	var base, typ, onConflict string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import an NDJSON export into a running server (- reads stdin)",
		Long: `Import sends an export (strata export, GET /api/export) to a running
server, which checks every line before it writes any: a bad line refuses
the whole file, naming the line. An id that exists is a conflict unless
--on-conflict is skip or replace.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body io.Reader
			if args[0] == "-" {
				body = cmd.InOrStdin()
			} else {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				defer f.Close()
				body = f
			}
			path := "/api/import"
			if typ != "" {
				path = "/api/" + url.PathEscape(typ) + "/import"
			}
			if onConflict != "" {
				path += "?on_conflict=" + url.QueryEscape(onConflict)
			}
			resp, err := apiRequest(cmd.Context(), http.MethodPost, base, path, body, "application/x-ndjson", http.StatusOK)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			defer resp.Body.Close()
			var res struct {
				Types, Resources, Revisions, Skipped, Replaced int
			}
			if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
				return fmt.Errorf("import: read the answer: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d types, %d resources, %d revisions (%d skipped, %d replaced)\n",
				res.Types, res.Resources, res.Revisions, res.Skipped, res.Replaced)
			return nil
		},
	}
	cmd.Flags().StringVar(&base, "url", defaultURL, "base URL of the running server (token from STRATA_TOKEN or STRATA_ADMIN_KEY)")
	cmd.Flags().StringVar(&typ, "type", "", "import into this type only (the file holds its resources, no definitions)")
	cmd.Flags().StringVar(&onConflict, "on-conflict", "", "what an id that exists gets: skip or replace (default: refuse the import)")
	return cmd
}

func backupCommand() *cobra.Command {
	var base, to string
	cmd := &cobra.Command{
		Use:   "backup --to FILE",
		Short: "Copy a running server's store to FILE, online, and verify the copy",
		Long: `Backup downloads a consistent copy of a running server's store (GET
/api/backup) while it keeps serving, into a temporary file beside FILE. It
checks the copy as bbolt check does, syncs it to disk and only then renames
it to FILE and reports success. To restore, stop the server and put FILE
in an empty data directory as strata.db; the search index is rebuilt on
start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return errors.New("backup: --to FILE is required")
			}
			start := time.Now()
			n, err := backup(cmd.Context(), base, to, progressOutput(cmd.OutOrStdout()))
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup: %s in %s, checked: %s\n", byteSize(n), time.Since(start).Round(time.Millisecond), to)
			return nil
		},
	}
	cmd.Flags().StringVar(&base, "url", defaultURL, "base URL of the running server (token from STRATA_TOKEN or STRATA_ADMIN_KEY)")
	cmd.Flags().StringVar(&to, "to", "", "the backup file to write (replaced only once the new copy is verified)")
	return cmd
}

// progressOutput is where backup shows its progress: w when it is a
// terminal, nil (no progress) otherwise.
func progressOutput(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return w
}

// backup downloads the server's copy into a temporary file beside to,
// verifies it, syncs it and renames it to to. It returns the size.
func backup(ctx context.Context, base, to string, progress io.Writer) (int64, error) {
	resp, err := apiRequest(ctx, http.MethodGet, base, "/api/backup", nil, "", http.StatusOK)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	dir := filepath.Dir(to)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(to)+".partial-*")
	if err != nil {
		return 0, err
	}
	keep := false
	defer func() {
		if !keep {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	var body io.Reader = resp.Body
	var pw *progressWriter
	if progress != nil {
		pw = &progressWriter{out: progress, total: resp.ContentLength}
		body = io.TeeReader(resp.Body, pw)
	}
	n, err := io.Copy(tmp, body)
	if pw != nil {
		pw.done()
	}
	if err != nil {
		return n, fmt.Errorf("download: %w", err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("download: got %d bytes of %d", n, resp.ContentLength)
	}
	if err := tmp.Sync(); err != nil {
		return n, err
	}
	if err := tmp.Close(); err != nil {
		return n, err
	}
	if err := verifyBackup(tmp.Name()); err != nil {
		return n, fmt.Errorf("the copy is damaged, %s was left as it was: %w", to, err)
	}
	if err := os.Rename(tmp.Name(), to); err != nil {
		return n, err
	}
	keep = true
	if d, err := os.Open(dir); err == nil {
		err = d.Sync() // the rename is durable too
		_ = d.Close()
		if err != nil {
			return n, fmt.Errorf("sync %s: %w", dir, err)
		}
	}
	return n, nil
}

// verifyBackup opens path read-only with bbolt and checks every page of
// it, as bbolt check does, and that it is a Strata store.
func verifyBackup(path string) error {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bbolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
			if len(errs) == 10 {
				break
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("bbolt check: %w", errors.Join(errs...))
		}
		if tx.Bucket([]byte("sys")) == nil && tx.Bucket([]byte("types")) == nil {
			return errors.New("the file is a bolt database but not a Strata store")
		}
		return nil
	})
}

// progressWriter shows how much of a download has arrived, at most a few
// times a second, on one terminal line.
type progressWriter struct {
	out   io.Writer
	total int64
	n     int64
	last  time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if time.Since(p.last) >= 200*time.Millisecond {
		p.last = time.Now()
		p.show()
	}
	return len(b), nil
}

func (p *progressWriter) show() {
	if p.total > 0 {
		fmt.Fprintf(p.out, "\rbackup: %s of %s (%d%%)   ", byteSize(p.n), byteSize(p.total), p.n*100/p.total)
		return
	}
	fmt.Fprintf(p.out, "\rbackup: %s   ", byteSize(p.n))
}

func (p *progressWriter) done() {
	p.show()
	fmt.Fprintln(p.out)
}

// byteSize formats n bytes for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 2, 64) + " GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}
