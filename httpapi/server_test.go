package httpapi_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/clientauth"
	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/device/agent"
	"github.com/backchannel/backchannel/egress"
	"github.com/backchannel/backchannel/httpapi"
	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/mtls/mtlstest"
	"github.com/backchannel/backchannel/notify"
	"github.com/backchannel/backchannel/registration"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/store/sqlite"
	"github.com/backchannel/backchannel/token"
)

const testAdminToken = "test-admin-token-0123456789"

// clock is real time plus an offset that tests advance, so time moves
// on its own (the delivery worker's backoff works) and tests can still
// jump ahead (expiry, slow_down).
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().UTC().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// testServer is the real handler on a real SQLite store, over HTTP.
type testServer struct {
	*httptest.Server
	t     *testing.T
	store store.Store
	clock *clock
	keys  *keys.Set
	svc   *ciba.Service
	// issuer is the server's issuer: its URL, or with passkeys the same
	// address named localhost.
	issuer string
	polls  *device.Hub // where held polls wait (testOptions.longPoll)
}

// newTestServer starts a server; limits override the protocol defaults.
func newTestServer(t *testing.T, limits ...ciba.Limits) *testServer {
	t.Helper()
	opts := testOptions{limits: ciba.Limits{MaxUserCodeFailures: 3}}
	if len(limits) > 0 {
		opts.limits = limits[0]
	}
	return startTestServer(t, opts)
}

// testOptions vary the test server.
type testOptions struct {
	limits ciba.Limits
	// storedPolls saves every poll's schedule in the store, as instances
	// sharing PostgreSQL do; by default the schedule is kept in memory,
	// as serve does on SQLite (ciba.Service.PollScheduleInMemory).
	storedPolls bool
	// longPoll holds on-time polls of pending requests this long at most
	// (ciba.Service.LongPoll); 0 answers at once.
	longPoll time.Duration
	dbPath   string // default: a new database
	// notify runs the outbox worker, delivering ping and push
	// notifications to loopback receivers.
	notify bool
	// accessTokenFormat is token.FormatOpaque (the default) or
	// token.FormatJWT.
	accessTokenFormat string
	// registration enables dynamic client registration (RFC 7591).
	registration *httpapi.DynamicRegistration
	// policy, when set, changes the registration policy (--dev's by
	// default).
	policy func(*registration.Policy)
	// tls serves https, asking clients for certificates as serve does
	// (mtlstest.StartTLS), with the mutual TLS client methods enabled
	// and clientCAs trusted for tls_client_auth.
	tls       bool
	clientCAs *x509.CertPool
	// registry, when set, gets the server's metrics, served at /metrics.
	registry *prometheus.Registry
	// dpopNonces makes DPoP proofs need server nonces (RFC 9449 §8, §9);
	// noDPoP turns DPoP off (Deps.DPoP nil).
	dpopNonces, noDPoP bool
	// resourceServers are the clients that may introspect every access
	// token (token.Service.ResourceServers).
	resourceServers []string
	// logTo, when set, gets every log record of the server and the
	// delivery worker, at Debug level, as JSON lines.
	logTo io.Writer
	// deps and worker, when set, adjust the handler's dependencies and
	// the delivery worker before they start (webhook_test.go).
	deps   func(*httpapi.Deps)
	worker func(*notify.Worker)
	// passkeys names the server localhost in its issuer, as serve --dev
	// does, so that WebAuthn accepts it, and enables passkeys.
	passkeys bool
}

func startTestServer(t *testing.T, opts testOptions) *testServer {
	t.Helper()
	lim := opts.limits
	if opts.dbPath == "" {
		opts.dbPath = filepath.Join(t.TempDir(), "backchannel.db")
	}
	st, err := sqlite.Open(t.Context(), opts.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{}
	ks, err := keys.Load(t.Context(), st, keys.Config{MaxTokenLifetime: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	if opts.tls {
		issuer = "https://" + srv.Listener.Addr().String()
	}
	var passkeys *device.Passkeys
	if opts.passkeys {
		issuer = strings.Replace(issuer, "127.0.0.1", "localhost", 1)
		passkeys, err = device.NewPasskeys(st, issuer, clk.Now)
		if err != nil {
			t.Fatal(err)
		}
	}
	clientKeys := &keys.ClientKeys{Now: clk.Now}
	hub := &device.Hub{}
	polls := &device.Hub{} // held polls wait here, as serve wires them
	obs := newTestMetrics(opts.registry, hub)
	svc := &ciba.Service{
		Observer:   obs.ciba,
		Store:      st,
		Tokens:     &token.Issuer{Issuer: issuer, Keys: ks, AccessTokenFormat: opts.accessTokenFormat, Now: clk.Now},
		Keys:       ks,
		ClientKeys: clientKeys,
		Issuer:     issuer,
		Limits:     lim,
		Now:        clk.Now,
		Changed:    func(sub string) { hub.Notify(sub); polls.Notify(sub) },

		PollScheduleInMemory: !opts.storedPolls,
		LongPoll:             opts.longPoll,
		Subscribe:            polls.Subscribe,
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(&testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.logTo != nil {
		log = slog.New(slog.NewJSONHandler(opts.logTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	policy := httpapi.DefaultPolicy(ks, true)
	policy.MTLS = opts.tls
	if opts.policy != nil {
		opts.policy(&policy)
	}
	srv.Config.Handler = httpapi.New(withDeps(opts, httpapi.Deps{
		Log:          log,
		Issuer:       issuer,
		Keys:         ks,
		ClientAuth:   &clientauth.Authenticator{Store: st, Keys: clientKeys, Issuer: issuer, Now: clk.Now, ClientCAs: opts.clientCAs},
		CIBA:         svc,
		Store:        st,
		Hub:          hub,
		DeviceAuth:   &device.Authenticator{Store: st, BaseURL: issuer, Now: clk.Now, Passkeys: passkeys},
		Enroller:     &device.Enroller{Store: st, BaseURL: issuer, Now: clk.Now},
		Registration: policy,
		Tokens:       &token.Service{Store: st, Issuer: svc.Tokens, Now: clk.Now, ResourceServers: opts.resourceServers},
		AdminToken:   testAdminToken,
		Now:          clk.Now,
		Observer:     obs.http,
		Metrics:      obs.handler,

		DynamicRegistration: opts.registration,
		DPoP:                testDPoP(st, clk, opts),
	}))
	if opts.tls {
		mtlstest.StartTLS(srv)
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	if opts.notify {
		w := &notify.Worker{
			Store:       st,
			HTTP:        egress.NewClient(egress.Policy{AllowInsecure: true}, 5*time.Second),
			Log:         log,
			Now:         clk.Now,
			BackoffBase: 10 * time.Millisecond,
		}
		if opts.worker != nil {
			opts.worker(w)
		}
		svc.Queued = w.Wake
		svc.Handoff, svc.HandoffLease = w.Handoff, w.Lease()
		ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
		done := make(chan struct{})
		go func() {
			defer close(done)
			w.Run(ctx)
		}()
		t.Cleanup(func() { cancel(); <-done })
	}
	return &testServer{Server: srv, t: t, store: st, clock: clk, keys: ks, svc: svc, issuer: issuer, polls: polls}
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// admin calls the admin API and decodes the JSON answer.
func (s *testServer) admin(method, path string, in any, wantStatus int) map[string]any {
	s.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(s.t.Context(), method, s.URL+"/admin/v1"+path, body)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			s.t.Fatalf("%s %s: body %q: %v", method, path, b, err)
		}
	}
	if resp.StatusCode != wantStatus {
		s.t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, wantStatus)
	}
	return out
}

// createClient registers a poll-mode client with secret_basic, merging
// meta over those defaults, and returns its id and secret.
func (s *testServer) createClient(meta map[string]any) (id, secret string) {
	s.t.Helper()
	doc := map[string]any{
		"client_name": "Test Client",
		"grant_types": []string{"urn:openid:params:grant-type:ciba", "refresh_token"},
	}
	for k, v := range meta {
		doc[k] = v
	}
	out := s.admin(http.MethodPost, "/clients", doc, http.StatusCreated)
	secret, _ = out["client_secret"].(string)
	return out["client_id"].(string), secret
}

func (s *testServer) createUser(doc map[string]any) {
	s.t.Helper()
	s.admin(http.MethodPost, "/users", doc, http.StatusCreated)
}

// enrolDevice enrols a device for sub through the admin and device APIs.
func (s *testServer) enrolDevice(sub string) *agent.Agent {
	s.t.Helper()
	out := s.admin(http.MethodPost, "/enrolments", map[string]any{"subject": sub}, http.StatusCreated)
	creds, err := agent.Register(s.t.Context(), s.Client(), s.issuer, out["code"].(string), "test phone")
	if err != nil {
		s.t.Fatalf("Register: %v", err)
	}
	a, err := agent.New(s.t.Context(), s.Client(), creds)
	if err != nil {
		s.t.Fatalf("agent.New: %v", err)
	}
	a.Now = s.clock.Now
	return a
}

// response is a decoded JSON response.
type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (r response) str(name string) string {
	s, _ := r.body[name].(string)
	return s
}

// postForm posts a form, authenticating with HTTP Basic when id is set.
func (s *testServer) postForm(path string, form url.Values, id, secret string) response {
	s.t.Helper()
	return s.postBody(path, "application/x-www-form-urlencoded", form.Encode(), id, secret)
}

func (s *testServer) postBody(path, contentType, body, id, secret string) response {
	s.t.Helper()
	req, _ := http.NewRequestWithContext(context.WithoutCancel(s.t.Context()), http.MethodPost, s.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(b, &r.body); err != nil {
		s.t.Fatalf("POST %s: body %q is not JSON", path, b)
	}
	return r
}

// wantError checks an OAuth error response's status and error code.
func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.str("error") != code {
		t.Errorf("response = %d %v, want %d error %q", r.status, r.body, status, code)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
	}
}
