package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/core"
)

// defaultServerURL is where the commands that talk to a server find it
// when --url is not given: strata serve's default address.
const defaultServerURL = "http://127.0.0.1:8080"

func hookReplayCommand() *cobra.Command {
	var (
		serverURL, name, typ, stage string
		last                        int
		asJSON                      bool
	)
	cmd := &cobra.Command{
		Use:   "replay [module.wasm]",
		Short: "Run a hook module over a type's latest writes on a running server, writing nothing",
		Long: "Sends the module to a running server (--url, admin token from STRATA_TOKEN), which runs it\n" +
			"over the type's last --last writes at --stage, as if it were the module --name (by default\n" +
			"the file's name) bound to the type, and reports how many it would have allowed, rejected\n" +
			"or failed on, with samples. Nothing is written and the registered module is not replaced.\n" +
			"Without a file, the module registered as --name is replayed.\n" +
			"Exit status 0 when every write is allowed, 1 when some are rejected or fail.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var wasm []byte
			if len(args) == 1 {
				var err error
				if wasm, err = os.ReadFile(args[0]); err != nil {
					return err
				}
				if name == "" {
					name = moduleName(args[0])
				}
			}
			if name == "" {
				return fmt.Errorf("name the module: give its file, or --name for the registered one")
			}
			if typ == "" {
				return fmt.Errorf("--type is required: the type whose writes are replayed")
			}
			rep, err := remoteReplay(cmd.Context(), serverURL, os.Getenv("STRATA_TOKEN"), name, wasm, core.ReplayOptions{Type: typ, Stage: stage, Last: last})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printReplay(out, rep)
			}
			if rep.Rejected > 0 || rep.Failed > 0 {
				return errHookRejected
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&serverURL, "url", defaultServerURL, "base URL of the running server (admin token from STRATA_TOKEN)")
	f.StringVar(&name, "name", "", "the module the candidate would replace (its bindings give config and limits); default: the file's name")
	f.StringVar(&typ, "type", "", "the type whose writes are replayed (required)")
	f.StringVar(&stage, "stage", core.StageValidate, "validate, before_create, before_update or before_delete")
	f.IntVar(&last, "last", core.DefaultReplayLast, "how many of the latest writes to replay, at most "+strconv.Itoa(core.MaxReplayLast))
	f.BoolVar(&asJSON, "json", false, "print the server's report as JSON")
	return cmd
}

// remoteReplay asks the server at base to replay wasm (nil: the module
// registered as name) and returns its report; a refusal is returned as an
// error carrying the problem's detail.
func remoteReplay(ctx context.Context, base, token, name string, wasm []byte, o core.ReplayOptions) (*core.ReplayReport, error) {
	q := url.Values{"type": {o.Type}, "stage": {o.Stage}, "last": {strconv.Itoa(o.Last)}}
	u := strings.TrimSuffix(base, "/") + "/api/hooks/" + url.PathEscape(name) + "/replay?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(wasm))
	if err != nil {
		return nil, err
	}
	if len(wasm) > 0 {
		req.Header.Set("Content-Type", "application/wasm")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("replay at %s: %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("replay at %s: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		var p struct {
			Detail string `json:"detail"`
		}
		if json.Unmarshal(body, &p) == nil && p.Detail != "" {
			return nil, fmt.Errorf("replay at %s: %s: %s", base, resp.Status, p.Detail)
		}
		return nil, fmt.Errorf("replay at %s: %s", base, resp.Status)
	}
	var rep core.ReplayReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return nil, fmt.Errorf("replay at %s: %w", base, err)
	}
	return &rep, nil
}

// printReplay writes a replay report for people.
func printReplay(w io.Writer, rep *core.ReplayReport) {
	fmt.Fprintf(w, "%s (sha256 %.12s) at %s over the last %d writes of %s: %d allowed, %d rejected, %d failed\n",
		rep.Hook, rep.SHA256, rep.Stage, rep.Checked, rep.Type, rep.Allowed, rep.Rejected, rep.Failed)
	if rep.Truncated {
		fmt.Fprintln(w, "stopped early at the server's time limit: the counts cover the newest writes only")
	}
	for _, s := range rep.Samples {
		fmt.Fprintf(w, "  %-8s %s/%s revision %d", s.Outcome, rep.Type, s.ID, s.Revision)
		for _, e := range s.Errors {
			if e.Path != "" {
				fmt.Fprintf(w, "  %s: %s", e.Path, e.Message)
			} else {
				fmt.Fprintf(w, "  %s", e.Message)
			}
		}
		fmt.Fprintln(w)
	}
}
