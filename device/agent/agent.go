package agent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/oauth"
)

// maxResponseBytes bounds a response body the agent reads whole.
const maxResponseBytes = 1 << 20

// Agent acts as one enrolled device. Create it with New.
type Agent struct {
	// Now is the device's clock, for the iat of what it signs. Defaults
	// to time.Now.
	Now func() time.Time
	// RetryMin and RetryMax bound the wait before Stream reconnects: it
	// starts at RetryMin and doubles up to RetryMax. Defaults: 1 s, 30 s.
	RetryMin, RetryMax time.Duration
	// IdleTimeout is how long Stream waits for any data, heartbeats
	// included, before it takes the connection for dead and reconnects.
	// Defaults to DefaultIdleTimeout.
	IdleTimeout time.Duration
	// OnRetry, if set, is told why Stream lost its stream and how long it
	// waits before reconnecting.
	OnRetry func(err error, wait time.Duration)

	creds *Credentials
	http  *http.Client
	api   string // the device_api_uri, without a trailing slash
}

// New returns an agent for the device of creds. It discovers the device
// API from the server's OpenID configuration.
func New(ctx context.Context, hc *http.Client, creds *Credentials) (*Agent, error) {
	if err := creds.validate(); err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	api, err := discover(ctx, hc, creds.Server)
	if err != nil {
		return nil, err
	}
	return &Agent{creds: creds, http: hc, api: api}, nil
}

// Credentials returns the credentials the agent acts with.
func (a *Agent) Credentials() *Credentials { return a.creds }

// Register enrols a new device with the enrolment code at the server
// issuer: it discovers the device API, creates a P-256 key, and proves
// possession of it by signing the code. name is the device's display
// name and may be empty. The caller saves the credentials.
func Register(ctx context.Context, hc *http.Client, issuer, code, name string) (*Credentials, error) {
	api, err := discover(ctx, hc, issuer)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate device key: %w", err)
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{EmbedJWK: true}).WithType(device.TypeEnrolment),
	)
	if err != nil {
		return nil, err
	}
	proof, err := sign(signer, map[string]any{"code": code, "name": name})
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(device.EnrolRequest{Proof: proof})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/enrol", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var out struct {
		DeviceID string `json:"device_id"`
		Subject  string `json:"subject"`
	}
	if err := do(hc, req, http.StatusCreated, &out); err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	if out.DeviceID == "" {
		return nil, errors.New("enrol: the server returned no device_id")
	}
	return &Credentials{Server: issuer, DeviceID: out.DeviceID, Subject: out.Subject, Key: key}, nil
}

// Pending returns the user's pending requests, oldest first.
func (a *Agent) Pending(ctx context.Context) ([]ciba.Summary, error) {
	req, err := a.newRequest(ctx, http.MethodGet, "/requests", "", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	var out struct {
		Requests []ciba.Summary `json:"requests"`
	}
	if err := do(a.http, req, http.StatusOK, &out); err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	return out.Requests, nil
}

// Decide approves or denies the request s, signing over s.Digest(): the
// server accepts the decision only if s is exactly what it would show.
func (a *Agent) Decide(ctx context.Context, s ciba.Summary, approve bool) error {
	return a.DecideWith(ctx, s, approve, nil)
}

// DecideWith is Decide with further decision claims (docs/device-api.md):
// "reason": "not_me" on a denial the user reports, "number": the number
// picked under number matching.
func (a *Agent) DecideWith(ctx context.Context, s ciba.Summary, approve bool, extra map[string]string) error {
	claims := make(map[string]any, len(extra))
	for k, v := range extra {
		claims[k] = v
	}
	return a.decide(ctx, s, approve, claims)
}

// ApproveWithPasskey approves the request s with a passkey: get answers
// navigator.credentials.get for the challenge (the summary's digest) with
// the assertion as JSON, which the decision carries.
func (a *Agent) ApproveWithPasskey(ctx context.Context, s ciba.Summary, get func(challenge string) ([]byte, error)) error {
	assertion, err := get(s.Digest())
	if err != nil {
		return fmt.Errorf("passkey: %w", err)
	}
	return a.decide(ctx, s, true, map[string]any{"passkey": json.RawMessage(assertion)})
}

// RegisterPasskey registers a passkey for the device: create answers
// navigator.credentials.create for the server's options with the new
// credential as JSON. It returns the passkey's ID.
func (a *Agent) RegisterPasskey(ctx context.Context, create func(options []byte) ([]byte, error)) (string, error) {
	var options json.RawMessage
	if err := a.Call(ctx, http.MethodPost, "/passkeys/options", nil, http.StatusOK, &options); err != nil {
		return "", fmt.Errorf("passkey options: %w", err)
	}
	cred, err := create(options)
	if err != nil {
		return "", fmt.Errorf("passkey: %w", err)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := a.Call(ctx, http.MethodPost, "/passkeys", cred, http.StatusCreated, &out); err != nil {
		return "", fmt.Errorf("register passkey: %w", err)
	}
	return out.ID, nil
}

// Call makes a signed device API call to path (below the device API)
// with body as JSON (none when nil), expects status want and decodes the
// answer into out (when not nil).
func (a *Agent) Call(ctx context.Context, method, path string, body []byte, want int, out any) error {
	var r io.Reader
	contentType := ""
	if body != nil {
		r, contentType = bytes.NewReader(body), "application/json"
	}
	req, err := a.newRequest(ctx, method, path, contentType, r)
	if err != nil {
		return err
	}
	return do(a.http, req, want, out)
}

// decide signs and sends a decision with further claims.
func (a *Agent) decide(ctx context.Context, s ciba.Summary, approve bool, claims map[string]any) error {
	decision := device.Deny
	if approve {
		decision = device.Approve
	}
	claims["request_id"] = s.RequestID
	claims["decision"] = decision
	claims["summary"] = s.Digest()
	signed, err := a.sign(device.TypeDecision, claims)
	if err != nil {
		return err
	}
	path := "/requests/" + url.PathEscape(s.RequestID) + "/decision"
	req, err := a.newRequest(ctx, http.MethodPost, path, "application/jose", strings.NewReader(signed))
	if err != nil {
		return err
	}
	if err := do(a.http, req, http.StatusNoContent, nil); err != nil {
		return fmt.Errorf("%s request %s: %w", decision, s.RequestID, err)
	}
	return nil
}

// NewRequest returns a request to path below the device API (for example
// "/push"), authenticated by a fresh proof over its method and URL, for
// the calls the Agent has no method of its own for. contentType may be
// empty.
func (a *Agent) NewRequest(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Request, error) {
	return a.newRequest(ctx, method, path, contentType, body)
}

// newRequest returns a device API request for path below the device API,
// authenticated by a fresh proof over its method and URL.
func (a *Agent) newRequest(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Request, error) {
	u := a.api + path
	proof, err := a.sign(device.TypeRequest, map[string]any{"htm": method, "htu": u})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", device.AuthScheme+" "+proof)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// sign signs claims, with iat and jti added, as a JWS of type typ with
// the device's key and kid.
func (a *Agent) sign(typ string, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: a.creds.Key, KeyID: a.creds.DeviceID}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)),
	)
	if err != nil {
		return "", err
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	claims["iat"] = now().Unix()
	claims["jti"] = newJTI()
	return sign(signer, claims)
}

func sign(signer jose.Signer, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}

func newJTI() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// discover returns the device_api_uri of the server issuer from its
// OpenID configuration (OpenID Connect Discovery 1.0 §4).
func discover(ctx context.Context, hc *http.Client, issuer string) (string, error) {
	iu, err := checkURL(issuer)
	if err != nil {
		return "", fmt.Errorf("server %q: %w", issuer, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	var meta struct {
		Issuer       string `json:"issuer"`
		DeviceAPIURI string `json:"device_api_uri"`
	}
	if err := do(hc, req, http.StatusOK, &meta); err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	// Discovery §4.3: the issuer in the document must be the one asked.
	if meta.Issuer != issuer {
		return "", fmt.Errorf("discovery: issuer %q, want %q", meta.Issuer, issuer)
	}
	if meta.DeviceAPIURI == "" {
		return "", errors.New("discovery: the server publishes no device_api_uri")
	}
	au, err := checkURL(meta.DeviceAPIURI)
	if err != nil {
		return "", fmt.Errorf("discovery: device_api_uri: %w", err)
	}
	// The server checks the URL each proof names against its own base,
	// so the device API lives at the issuer's origin.
	if au.Scheme != iu.Scheme || au.Host != iu.Host {
		return "", fmt.Errorf("discovery: device_api_uri %q is not at the issuer's origin", meta.DeviceAPIURI)
	}
	return strings.TrimSuffix(meta.DeviceAPIURI, "/"), nil
}

// checkURL parses an absolute URL and requires https, or http on a
// loopback host for development: the device's key signs over these URLs
// and its requests carry the user's pending requests.
func checkURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("not an absolute URL without query and fragment")
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if isLoopback(u.Hostname()) {
			return u, nil
		}
		return nil, errors.New("plain http is allowed only on a loopback host")
	}
	return nil, fmt.Errorf("scheme %q is not https", u.Scheme)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// do sends req and decodes a response with status want into out (if not
// nil). Any other status is an error: an *oauth.Error when the body is an
// OAuth error response.
func do(hc *http.Client, req *http.Request, want int, out any) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return responseError(resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decode response: %w", err)
		}
	}
	return nil
}

// responseError turns an error response into an *oauth.Error carrying the
// status, or a plain error when the body is not an OAuth error.
func responseError(status int, body []byte) error {
	var e struct {
		Error       oauth.Code `json:"error"`
		Description string     `json:"error_description"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return &oauth.Error{Code: e.Error, Description: e.Description, Status: status}
	}
	return fmt.Errorf("HTTP %d", status)
}
