package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// adminFlags are the flags of every command that talks to the admin API.
type adminFlags struct {
	url   string
	token string
	json  bool
}

func (f *adminFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.url, "admin-url", "", "admin API base URL, e.g. http://127.0.0.1:8080 (env BACKCHANNEL_ADMIN_URL)")
	cmd.PersistentFlags().StringVar(&f.token, "admin-token", "", "admin API token (env BACKCHANNEL_ADMIN_TOKEN)")
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")
}

// adminClient calls the admin API of a running server.
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

func (f *adminFlags) client(env *cliEnv) (*adminClient, error) {
	base, token := f.url, f.token
	if base == "" {
		base = env.getenv("BACKCHANNEL_ADMIN_URL")
	}
	if token == "" {
		token = env.getenv("BACKCHANNEL_ADMIN_TOKEN")
	}
	var problems []error
	if base == "" {
		problems = append(problems, errors.New("no admin URL: pass --admin-url or set BACKCHANNEL_ADMIN_URL"))
	}
	if token == "" {
		problems = append(problems, errors.New("no admin token: pass --admin-token or set BACKCHANNEL_ADMIN_TOKEN"))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return &adminClient{
		base:  strings.TrimSuffix(base, "/"),
		token: token,
		http:  &http.Client{Timeout: 30 * time.Second},
	}, nil
}

// do sends in (if not nil) as JSON to the admin API path below /admin/v1
// and decodes the response into out (if not nil).
func (c *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/admin/v1"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			if e.Description != "" {
				return fmt.Errorf("%s %s: %s: %s", method, path, e.Error, e.Description)
			}
			return fmt.Errorf("%s %s: %s", method, path, e.Error)
		}
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

// readDocument reads a JSON document from the file name, or stdin for "-".
func readDocument(env *cliEnv, name string) (json.RawMessage, error) {
	if name == "" {
		return nil, errors.New("--file is required (use - for stdin)")
	}
	var r io.Reader = env.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s is not valid JSON", name)
	}
	return b, nil
}
