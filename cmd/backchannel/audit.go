package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newAuditCommand(env *cliEnv) *cobra.Command {
	var (
		af                    adminFlags
		request, user, client string
		since                 string
		limit                 int
		jsonl                 bool
	)
	cmd := &cobra.Command{
		Use:   "audit (--request REF | --user SUB | --client ID) [--since T] [--limit N] [--json | --jsonl]",
		Short: "Show the audit trail of a request, a user or a client (admin API)",
		Long: `Show the audit trail of a backchannel request (by the request reference
devices and logs show, never the auth_req_id), of a user or of a client,
oldest first: created, shown, approved or denied, redeemed, notified,
expired. --since takes an RFC 3339 time or a duration back from now
(e.g. 24h). --json prints {"events": [...]}; --jsonl prints one event per
line, every matching event unless --limit is given, for export.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if request == "" && user == "" && client == "" {
				return errors.New("one of --request, --user and --client is required")
			}
			if af.json && jsonl {
				return errors.New("--json and --jsonl exclude each other")
			}
			q := url.Values{}
			for name, v := range map[string]string{"request": request, "user": user, "client": client} {
				if v != "" {
					q.Set(name, v)
				}
			}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				q.Set("since", t.Format(time.RFC3339))
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			ac, err := af.client(env)
			if err != nil {
				return err
			}
			if jsonl {
				q.Set("format", "jsonl")
				return ac.copyTo(cmd.Context(), "/audit?"+q.Encode(), env.stdout)
			}
			var out struct {
				Events []auditEvent `json:"events"`
			}
			if err := ac.do(cmd.Context(), http.MethodGet, "/audit?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if af.json {
				if out.Events == nil {
					out.Events = []auditEvent{}
				}
				return printJSON(env.stdout, out)
			}
			return printAudit(env.stdout, out.Events)
		},
	}
	af.register(cmd)
	cmd.Flags().StringVar(&request, "request", "", "the request reference")
	cmd.Flags().StringVar(&user, "user", "", "the user's sub")
	cmd.Flags().StringVar(&client, "client", "", "the client_id")
	cmd.Flags().StringVar(&since, "since", "", "only events at or after this RFC 3339 time, or this long ago (e.g. 24h)")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many events (default: 1000; all with --jsonl)")
	cmd.Flags().BoolVar(&jsonl, "jsonl", false, "print JSON lines, for export")
	return cmd
}

// auditEvent is an event as the admin API shows it.
type auditEvent struct {
	ID        string          `json:"id"`
	At        time.Time       `json:"at"`
	Kind      string          `json:"kind"`
	RequestID string          `json:"request_id,omitempty"`
	ClientID  string          `json:"client_id,omitempty"`
	Subject   string          `json:"sub,omitempty"`
	DeviceID  string          `json:"device_id,omitempty"`
	Detail    json.RawMessage `json:"detail,omitempty"`
}

// parseSince reads an RFC 3339 time, or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q is neither an RFC 3339 time nor a positive duration", s)
}

// printAudit prints events as a table, one line each.
func printAudit(w io.Writer, events []auditEvent) error {
	if len(events) == 0 {
		_, err := fmt.Fprintln(w, "no events")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tREQUEST\tCLIENT\tUSER\tDEVICE\tDETAIL")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format("2006-01-02 15:04:05.000"), e.Kind,
			dash(e.RequestID), dash(e.ClientID), dash(e.Subject), dash(e.DeviceID), detailText(e.Detail))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// detailText renders a detail object as key=value pairs in key order.
func detailText(detail json.RawMessage) string {
	var m map[string]any
	if len(detail) == 0 || json.Unmarshal(detail, &m) != nil || len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := m[k]
		if s, ok := v.(string); ok {
			parts[i] = k + "=" + strconv.Quote(s)
			continue
		}
		b, _ := json.Marshal(v)
		parts[i] = k + "=" + string(b)
	}
	return strings.Join(parts, " ")
}

// copyTo GETs path below /admin/v1 and copies the response body to w as
// it arrives.
func (c *adminClient) copyTo(ctx context.Context, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/admin/v1"+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/x-ndjson")
	// An export may take longer than the client's timeout for ordinary calls.
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("GET /audit: %s: %s", e.Error, e.Description)
		}
		return fmt.Errorf("GET /audit: HTTP %d", resp.StatusCode)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("GET /audit: %w", err)
	}
	return nil
}
