package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// oauthClient makes the relying party's requests: form posts with
// client_secret_basic, JSON answers, OAuth errors as *errorCode.
type oauthClient struct {
	hc         *http.Client
	id, secret string
}

// post sends form to endpoint and decodes a 2xx JSON answer into out.
func (c *oauthClient) post(ctx context.Context, endpoint string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// RFC 6749 §2.3.1: the id and secret are form-encoded first.
	req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("http_%d", resp.StatusCode)
		}
		return &errorCode{Code: e.Error, Status: resp.StatusCode}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// started is the backchannel authentication response (CIBA Core §7.3).
type started struct {
	AuthReqID string `json:"auth_req_id"`
	ExpiresIn int64  `json:"expires_in"`
	Interval  int64  `json:"interval"`
}

// tokens is the part of a token response the tool checks.
type tokens struct {
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
}

func (t tokens) check() error {
	if t.AccessToken == "" || t.IDToken == "" {
		return &errorCode{Code: "no_tokens", Status: 200}
	}
	return nil
}

// endpoints are the discovered endpoints the tool uses.
type endpoints struct {
	Backchannel string `json:"backchannel_authentication_endpoint"`
	Token       string `json:"token_endpoint"`
}

func discover(ctx context.Context, hc *http.Client, issuer string) (endpoints, error) {
	var ep endpoints
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return ep, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return ep, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ep, fmt.Errorf("discovery: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&ep); err != nil {
		return ep, fmt.Errorf("discovery: %w", err)
	}
	if ep.Backchannel == "" || ep.Token == "" {
		return ep, fmt.Errorf("discovery: no backchannel or token endpoint")
	}
	return ep, nil
}

// tokenRequest makes one CIBA grant token request.
func (c *oauthClient) token(ctx context.Context, endpoint, authReqID string) (tokens, error) {
	var t tokens
	err := c.post(ctx, endpoint, url.Values{
		"grant_type":  {"urn:openid:params:grant-type:ciba"},
		"auth_req_id": {authReqID},
	}, &t)
	if err == nil {
		err = t.check()
	}
	return t, err
}

// receiver is the relying parties' notification endpoint for ping and
// push (CIBA Core §10.2, §10.3): it hands each notification to whoever
// expects its client_notification_token.
type receiver struct {
	srv *http.Server
	mu  sync.Mutex
	exp map[string]chan []byte
}

// listenReceiver serves the receiver at addr (host:port) on every path.
func listenReceiver(addr string) (*receiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("notification receiver: %w", err)
	}
	r := &receiver{exp: map[string]chan []byte{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	b, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if !ok || err != nil {
		http.Error(w, "bad notification", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	ch := r.exp[tok]
	delete(r.exp, tok)
	r.mu.Unlock()
	if ch != nil {
		ch <- b
	}
	w.WriteHeader(http.StatusNoContent)
}

// expect returns the channel the notification bearing tok will arrive on.
func (r *receiver) expect(tok string) chan []byte {
	ch := make(chan []byte, 1)
	r.mu.Lock()
	r.exp[tok] = ch
	r.mu.Unlock()
	return ch
}

func (r *receiver) forget(tok string) {
	r.mu.Lock()
	delete(r.exp, tok)
	r.mu.Unlock()
}

func (r *receiver) close() { r.srv.Close() }

// wait waits up to d for ch.
func wait[T any](ctx context.Context, ch <-chan T, d time.Duration) (T, error) {
	var zero T
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case v := <-ch:
		return v, nil
	case <-t.C:
		return zero, &errorCode{Code: "timeout_waiting", Status: 0}
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// adminDo calls backchannel's admin API.
func adminDo(ctx context.Context, hc *http.Client, base, token, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/admin/v1"+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("admin POST %s: HTTP %d: %s", path, resp.StatusCode, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, out)
}
