package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/oauth"
)

// maxDemoRuns bounds the runs the console remembers; the oldest is
// forgotten first.
const maxDemoRuns = 64

// Demo is the demo console's API: it plays a call-centre relying party.
// Each run is a real CIBA request of the demo client against the
// server's own public endpoints over HTTP, through package client:
// discovery, the backchannel authentication endpoint, polling the token
// endpoint and checking the ID token. Going over HTTP rather than calling
// ciba.Service directly means the console shows exactly what any client
// would see, client authentication and token verification included.
//
// The console starts requests for any login hint without authenticating
// its operator: serve it only in development or on a private network.
type Demo struct {
	Issuer       string // the server's issuer identifier
	ClientID     string
	ClientSecret string       // client_secret_basic
	HTTPClient   *http.Client // defaults to the client package's
	Log          *slog.Logger

	mu     sync.Mutex
	client *client.Client // made on first use, when the server is up
	runs   map[string]*demoRun
	order  []string
}

// demoRun is one request the console started, as the page sees it.
type demoRun struct {
	ID             string         `json:"id"`
	LoginHint      string         `json:"login_hint"`
	BindingMessage string         `json:"binding_message"`
	State          string         `json:"state"` // starting, pending, approved, denied, expired, failed
	Error          string         `json:"error,omitempty"`
	StartedAt      time.Time      `json:"started_at"`
	ExpiresAt      time.Time      `json:"expires_at,omitzero"`
	MatchingNumber string         `json:"matching_number,omitempty"` // under number matching
	DecidedAt      time.Time      `json:"decided_at,omitzero"`
	TokenType      string         `json:"token_type,omitempty"`
	Scope          string         `json:"scope,omitempty"`
	Claims         map[string]any `json:"id_token_claims,omitempty"`
}

type demoStart struct {
	LoginHint      string `json:"login_hint"`
	BindingMessage string `json:"binding_message"`
	Scope          string `json:"scope"`
	ACRValues      string `json:"acr_values"`
	// AuthorizationDetails is RFC 9396 authorization_details as JSON
	// text, sent as it is; empty sends none.
	AuthorizationDetails string `json:"authorization_details"`
}

// Start serves POST /demo/api/requests: it starts a request and answers
// with its run at once; the run then follows the request in the
// background.
func (d *Demo) Start() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only JSON: a cross-site form cannot send it without a CORS
		// preflight, which this API does not answer.
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			oauth.WriteError(w, oauth.Errorf(oauth.InvalidRequest, "the body must be application/json"))
			return
		}
		var in demoStart
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			oauth.WriteError(w, oauth.Errorf(oauth.InvalidRequest, "the body is not a valid request"))
			return
		}
		in.LoginHint = strings.TrimSpace(in.LoginHint)
		if in.LoginHint == "" || utf8.RuneCountInString(in.BindingMessage) > 200 {
			oauth.WriteError(w, oauth.Errorf(oauth.InvalidRequest, "a login hint is required, and a binding message of at most 200 characters"))
			return
		}
		c, err := d.rp(r.Context())
		if err != nil {
			d.Log.ErrorContext(r.Context(), "demo console: client setup", "err", err)
			oauth.WriteError(w, &oauth.Error{Code: oauth.ServerError, Description: "the demo client could not reach the server"})
			return
		}
		run := &demoRun{ID: newRunID(), LoginHint: in.LoginHint, BindingMessage: in.BindingMessage, State: "starting", StartedAt: time.Now().UTC()}
		d.remember(run)
		req := client.AuthRequest{
			Scopes:         strings.Fields(in.Scope),
			LoginHint:      in.LoginHint,
			BindingMessage: in.BindingMessage,
			ACRValues:      strings.Fields(in.ACRValues),
		}
		if ad := strings.TrimSpace(in.AuthorizationDetails); ad != "" {
			req.Extra = url.Values{"authorization_details": {ad}}
		}
		if len(req.Scopes) == 0 {
			req.Scopes = []string{"openid", "profile", "email"}
		}
		// The run outlives this HTTP request; it ends with the CIBA
		// request's expiry, bounded below.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 15*time.Minute)
		started, err := c.Initiate(ctx, req)
		if err != nil {
			cancel()
			d.update(run, func(r *demoRun) { r.State, r.Error = "failed", describe(err) })
			d.writeRun(w, http.StatusOK, run)
			return
		}
		d.update(run, func(r *demoRun) {
			r.State, r.ExpiresAt, r.MatchingNumber = "pending", started.ExpiresAt.UTC(), started.MatchingNumber
		})
		go func() {
			defer cancel()
			d.follow(ctx, c, run, started)
		}()
		d.writeRun(w, http.StatusCreated, run)
	})
}

// Get serves GET /demo/api/requests/{id}: the run's state, which the page
// asks for every second.
func (d *Demo) Get() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		run, ok := d.runs[r.PathValue("id")]
		d.mu.Unlock()
		if !ok {
			oauth.WriteError(w, &oauth.Error{Code: "not_found", Description: "no such run", Status: http.StatusNotFound})
			return
		}
		d.writeRun(w, http.StatusOK, run)
	})
}

// follow polls the token endpoint until the request is decided or
// expires, and records the outcome.
func (d *Demo) follow(ctx context.Context, c *client.Client, run *demoRun, started client.Started) {
	tokens, err := c.Poll(ctx, started)
	now := time.Now().UTC()
	if err != nil {
		state := "failed"
		switch client.ErrorCode(err) {
		case string(oauth.AccessDenied):
			state = "denied"
		case string(oauth.ExpiredToken):
			state = "expired"
		}
		d.update(run, func(r *demoRun) { r.State, r.DecidedAt, r.Error = state, now, describe(err) })
		return
	}
	d.update(run, func(r *demoRun) {
		r.State, r.DecidedAt = "approved", now
		r.TokenType, r.Scope = tokens.TokenType, tokens.Scope
		if tokens.Claims != nil {
			r.Claims = tokens.Claims.Claims
		}
	})
}

// describe is the text the page shows for a failed run: the OAuth error
// of the server, which is meant for the client, or a fixed text.
func describe(err error) string {
	var ce *client.Error
	if errors.As(err, &ce) {
		return ce.Error()
	}
	return "the request could not be completed"
}

func (d *Demo) rp(ctx context.Context) (*client.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.client != nil {
		return d.client, nil
	}
	c, err := client.New(ctx, client.Config{Issuer: d.Issuer, ClientID: d.ClientID, ClientSecret: d.ClientSecret, HTTPClient: d.HTTPClient})
	if err != nil {
		return nil, err
	}
	d.client = c
	return c, nil
}

func (d *Demo) remember(run *demoRun) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.runs == nil {
		d.runs = make(map[string]*demoRun)
	}
	d.runs[run.ID] = run
	d.order = append(d.order, run.ID)
	if len(d.order) > maxDemoRuns {
		delete(d.runs, d.order[0])
		d.order = d.order[1:]
	}
}

func (d *Demo) update(run *demoRun, f func(*demoRun)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(run)
}

func (d *Demo) writeRun(w http.ResponseWriter, status int, run *demoRun) {
	d.mu.Lock()
	snapshot := *run
	d.mu.Unlock()
	oauth.WriteJSON(w, status, snapshot)
}

func newRunID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
