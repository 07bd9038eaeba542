package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/device/agent"
)

// TestTwoInstances runs two `serve` processes of the real binary on one
// PostgreSQL schema, sharing nothing else, and checks that what one
// instance does reaches the other at once (DESIGN.md, "Scale"). Separate
// processes, not two serve calls in one test process, so that nothing
// in memory can be shared by accident: the database is the only link.
//
// Both instances have the same issuer, the URL of instance A, as behind
// a load balancer; requests reach B through a transport that sends them
// to B's address with the Host header unchanged.
func TestTwoInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dsn := postgresTestSchema(t)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	addrA, addrB := freeAddr(t), freeAddr(t)
	issuer := "http://" + addrA
	adminToken := randomHex(t)
	// Both instances are started before the test goes on, one after the
	// other: --dev replaces its demo client at start.
	startInstance(t, bin, addrA, issuer, dsn, adminToken)
	startInstance(t, bin, addrB, issuer, dsn, adminToken)
	viaA := &http.Client{Timeout: 30 * time.Second}
	viaB := &http.Client{Timeout: 30 * time.Second, Transport: redirectTo{addrB}}
	streamB := &http.Client{Transport: redirectTo{addrB}} // no timeout: the stream stays open
	ctx := t.Context()

	admin := func(t *testing.T, method, path string, body any, want int) map[string]any {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, method, issuer+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		return doJSON(t, viaA, req, want)
	}
	admin(t, "POST", "/admin/v1/users", map[string]any{"sub": "u-2001", "email": "kai@example.jp"}, http.StatusCreated)
	enrol := admin(t, "POST", "/admin/v1/enrolments", map[string]any{"subject": "u-2001"}, http.StatusCreated)
	creds, err := agent.Register(ctx, viaA, issuer, enrol["code"].(string), "phone")
	if err != nil {
		t.Fatal(err)
	}
	phoneA, err := agent.New(ctx, viaA, creds)
	if err != nil {
		t.Fatal(err)
	}
	phoneB, err := agent.New(ctx, streamB, creds)
	if err != nil {
		t.Fatal(err)
	}
	shown := make(chan ciba.Summary, 32)
	go phoneB.Stream(ctx, func(s ciba.Summary) error { shown <- s; return nil })
	waitFor(t, "B's device stream to open", 10*time.Second, func() bool {
		return strings.Contains(fetch(t, viaB, issuer+"/metrics"), "device_streams_open 1")
	})
	// awaitShown returns the request with binding message msg as B's
	// stream shows it, and how long that took from since.
	awaitShown := func(t *testing.T, msg string, since time.Time) (ciba.Summary, time.Duration) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case s := <-shown:
				if s.BindingMessage == msg {
					return s, time.Since(since)
				}
			case <-timeout:
				t.Fatalf("B's device stream did not show %q within 10 s", msg)
			}
		}
	}

	pollClient := admin(t, "POST", "/admin/v1/clients", map[string]any{
		"client_name": "Poller", "grant_types": []string{"urn:openid:params:grant-type:ciba"},
	}, http.StatusCreated)
	start := func(t *testing.T, via *http.Client, c map[string]any, form url.Values) map[string]any {
		t.Helper()
		form.Set("scope", "openid")
		form.Set("login_hint", "kai@example.jp")
		req, _ := http.NewRequestWithContext(ctx, "POST", issuer+"/bc-authorize", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c["client_id"].(string), c["client_secret"].(string))
		return doJSON(t, via, req, http.StatusOK)
	}
	poll := func(t *testing.T, via *http.Client, c map[string]any, authReqID string) (int, map[string]any) {
		t.Helper()
		form := url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {authReqID}}
		req, _ := http.NewRequestWithContext(ctx, "POST", issuer+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c["client_id"].(string), c["client_secret"].(string))
		return send(t, via, req)
	}

	t.Run("StreamOnBSeesRequestStartedOnA", func(t *testing.T) {
		// Also (c): tokens on B after approval on A, redeemed only once.
		began := time.Now()
		started := start(t, viaA, pollClient, url.Values{"binding_message": {"A1"}})
		s, took := awaitShown(t, "A1", began)
		t.Logf("request started on A shown on B's stream after %v", took)
		if took > 3*time.Second { // the stream's heartbeat is 15 s
			t.Errorf("request started on A reached B's stream after %v, want well under the 15 s heartbeat", took)
		}
		if err := phoneA.Decide(ctx, s, true); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(began.Add(1100 * time.Millisecond))) // the polling interval, 1 s
		status, body := poll(t, viaB, pollClient, started["auth_req_id"].(string))
		if status != http.StatusOK || body["id_token"] == nil {
			t.Fatalf("poll on B after approval on A = %d %v, want 200 with tokens", status, body)
		}
		time.Sleep(1100 * time.Millisecond)
		status, body = poll(t, viaA, pollClient, started["auth_req_id"].(string))
		if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("second poll, on A = %d %v, want 400 invalid_grant", status, body)
		}
	})

	t.Run("SlowDownAcrossInstances", func(t *testing.T) {
		began := time.Now()
		started := start(t, viaA, pollClient, url.Values{"binding_message": {"A2"}})
		time.Sleep(time.Until(began.Add(1100 * time.Millisecond)))
		id := started["auth_req_id"].(string)
		if status, body := poll(t, viaA, pollClient, id); body["error"] != "authorization_pending" {
			t.Fatalf("first poll, on A = %d %v, want authorization_pending", status, body)
		}
		if status, body := poll(t, viaB, pollClient, id); status != http.StatusBadRequest || body["error"] != "slow_down" {
			t.Errorf("poll on B right after a poll on A = %d %v, want 400 slow_down", status, body)
		}
	})

	t.Run("PingOnceAfterApprovalOnA", func(t *testing.T) {
		var mu sync.Mutex
		var hits []time.Time
		rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits = append(hits, time.Now())
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(rp.Close)
		pinged := admin(t, "POST", "/admin/v1/clients", map[string]any{
			"client_name": "Pinged", "grant_types": []string{"urn:openid:params:grant-type:ciba"},
			"backchannel_token_delivery_mode":          "ping",
			"backchannel_client_notification_endpoint": rp.URL + "/cb",
		}, http.StatusCreated)
		began := time.Now()
		start(t, viaA, pinged, url.Values{"binding_message": {"A3"}, "client_notification_token": {randomHex(t)}})
		s, _ := awaitShown(t, "A3", began)
		approved := time.Now()
		if err := phoneA.Decide(ctx, s, true); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the ping", 5*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(hits) > 0
		})
		mu.Lock()
		took := hits[0].Sub(approved)
		mu.Unlock()
		t.Logf("ping sent %v after the approval on A", took)
		if took > time.Second {
			t.Errorf("ping sent %v after the approval, want under 1 s", took)
		}
		time.Sleep(3 * time.Second) // both workers poll every second meanwhile
		mu.Lock()
		defer mu.Unlock()
		if len(hits) != 1 {
			t.Errorf("the ping endpoint was called %d times, want 1", len(hits))
		}
	})

	t.Run("AssertionJTIOnceAcrossInstances", func(t *testing.T) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub := jose.JSONWebKey{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}
		c := admin(t, "POST", "/admin/v1/clients", map[string]any{
			"client_name": "Signer", "grant_types": []string{"urn:openid:params:grant-type:ciba"},
			"token_endpoint_auth_method": "private_key_jwt", "jwks": jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}},
		}, http.StatusCreated)
		id := c["client_id"].(string)
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		assertion, err := jwt.Signed(signer).Claims(jwt.Claims{
			Issuer: id, Subject: id, Audience: jwt.Audience{issuer}, ID: randomHex(t),
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
		}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		// The token endpoint authenticates the client before it looks at
		// the grant: an unknown auth_req_id is invalid_grant once the
		// assertion is accepted, invalid_client when it is not.
		present := func(via *http.Client) (int, map[string]any) {
			t.Helper()
			form := url.Values{
				"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {"unknown"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {assertion},
			}
			req, _ := http.NewRequestWithContext(ctx, "POST", issuer+"/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return send(t, via, req)
		}
		if status, body := present(viaA); body["error"] != "invalid_grant" {
			t.Fatalf("assertion on A = %d %v, want it accepted (then invalid_grant)", status, body)
		}
		if status, body := present(viaB); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Errorf("the same assertion on B = %d %v, want 401 invalid_client", status, body)
		}
	})

	t.Run("KeyRotationOnAReachesB", func(t *testing.T) {
		rotated := admin(t, "POST", "/admin/v1/keys/rotate", nil, http.StatusOK)
		kid := rotated["kid"].(string)
		began := time.Now()
		waitFor(t, "B's /jwks to publish the new key", 5*time.Second, func() bool {
			return slices.Contains(kids(t, viaB, issuer), kid)
		})
		took := time.Since(began)
		t.Logf("B published the key rotated on A after %v", took)
		if took > time.Second {
			t.Errorf("B published the rotated key after %v, want within 1 s (its periodic reload is every 30 s)", took)
		}
	})
}

// redirectTo sends every request to addr, keeping its Host header, as a
// load balancer in front of several instances would.
type redirectTo struct{ addr string }

func (r redirectTo) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Host = r.addr
	return http.DefaultTransport.RoundTrip(req)
}

// startInstance runs serve --dev on addr with the database dsn and waits
// until it answers /healthz. --dev allows the http issuer and loopback
// notification endpoints the test uses.
func startInstance(t *testing.T, bin, addr, issuer, dsn, adminToken string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	cmd := exec.CommandContext(ctx, bin, "serve", "--dev", "--addr", addr, "--issuer", issuer, "--db", dsn)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "BACKCHANNEL_ADMIN_TOKEN="+adminToken, "BACKCHANNEL_CIBA_INTERVAL=1s")
	out, stderr := &lockedBuffer{}, &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
			if code := cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("serve on %s exited with %d on SIGINT; stderr:\n%s", addr, code, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("serve on %s did not shut down within 20 s of SIGINT", addr)
		}
		if t.Failed() {
			t.Logf("serve on %s logged:\n%s", addr, stderr.String())
		}
	})
	listening := regexp.MustCompile(`listening on \S+`)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if listening.MatchString(out.String()) {
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve on %s exited: %v\nstdout:\n%s\nstderr:\n%s", addr, err, out.String(), stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve on %s did not start; stderr:\n%s", addr, stderr.String())
		}
	}
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// waitFor polls cond every 20 ms until it holds, failing t after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// send sends req and returns the status and the JSON body.
func send(t *testing.T, hc *http.Client, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v\n%s", req.Method, req.URL.Path, err, b)
		}
	}
	return resp.StatusCode, m
}

func doJSON(t *testing.T, hc *http.Client, req *http.Request, want int) map[string]any {
	t.Helper()
	status, m := send(t, hc, req)
	if status != want {
		t.Fatalf("%s %s = %d %v, want %d", req.Method, req.URL.Path, status, m, want)
	}
	return m
}

func fetch(t *testing.T, hc *http.Client, u string) string {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// kids returns the key IDs of the JWKS at issuer.
func kids(t *testing.T, hc *http.Client, issuer string) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(fetch(t, hc, issuer+"/jwks")), &set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}
