package resource

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/backchannel/backchannel/dpop"
	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// DefaultMetadataTTL is how long Issuer uses a fetched discovery
// document when MetadataTTL is zero.
const DefaultMetadataTTL = time.Hour

// maxResponseBytes caps what Issuer reads of the OP's answers.
const maxResponseBytes = 1 << 20

// Issuer validates the access tokens of one backchannel OP for a resource
// server. URL is required; Audience is required to accept JWT access
// tokens, ClientID and ClientSecret to accept opaque ones. An Issuer is
// safe for concurrent use and must not be copied after first use.
type Issuer struct {
	// URL is the OP's issuer identifier: discovery is fetched from
	// URL + "/.well-known/openid-configuration", and a JWT access token's
	// iss must equal it.
	URL string
	// Audience is this resource server's identifier, which a JWT access
	// token's aud must contain (RFC 9068 §4), and an introspection
	// response's aud too when it has one. Empty refuses JWT access tokens.
	Audience string
	// ClientID and ClientSecret are the resource server's credentials at
	// the OP, sent with client_secret_basic to the introspection endpoint
	// (RFC 7662 §2.1). The OP must list ClientID among its resource
	// servers. Empty refuses opaque access tokens.
	ClientID     string
	ClientSecret string
	// HTTPClient calls the OP. Defaults to a client with a 10 s timeout.
	HTTPClient *http.Client
	// DPoP verifies the proofs of DPoP-bound tokens (RFC 9449 §7). Nil
	// refuses DPoP-bound tokens. For a resource server without a
	// database, give it a dpop.MemoryJTIStore.
	DPoP *dpop.Verifier
	// ResourceURL returns the URL a request was sent to, without query,
	// as the client addressed it: the htu its DPoP proof must name.
	// Defaults to the request's scheme (https when it came over TLS),
	// Host and path; a resource server behind a TLS-terminating proxy
	// sets it.
	ResourceURL func(r *http.Request) string
	// MetadataTTL is how long a fetched discovery document is used.
	// Defaults to DefaultMetadataTTL.
	MetadataTTL time.Duration
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time

	mu        sync.Mutex
	meta      *metadata
	fetchedAt time.Time
	// jwks caches the OP's JWK Set. Its fields are set once, under mu,
	// by the first metadata call, which every use of jwks follows.
	jwks      keys.ClientKeys
	jwksReady bool
}

// metadata is what Issuer uses of the OP's discovery document.
type metadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// Validate validates the access token of r and enforces its binding.
// See the package documentation.
func (iss *Issuer) Validate(r *http.Request) (*Token, error) {
	p, ok := credentials(r)
	if !ok {
		return nil, iss.refuse(presentation{}, &oauth.Error{Description: "an access token is required"})
	}
	var (
		t   *Token
		err error
	)
	if looksLikeJWT(p.token) {
		t, err = iss.verifyJWT(r.Context(), p.token)
	} else {
		t, err = iss.introspect(r.Context(), p.token)
	}
	if err == nil {
		err = checkBinding(r, p, t, iss.DPoP, iss.resourceURL(r))
	}
	var oe *oauth.Error
	if errors.As(err, &oe) {
		return nil, iss.refuse(p, oe)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// refuse turns oe into the *Error of a request that presented its token
// as p: a DPoP challenge for the DPoP scheme, else a Bearer one followed,
// when DPoP is accepted, by a bare DPoP challenge (RFC 9449 §7.2).
func (iss *Issuer) refuse(p presentation, oe *oauth.Error) *Error {
	e := &Error{Code: oe.Code, Description: oe.Description, Status: http.StatusUnauthorized, Cause: oe.Cause}
	params := ""
	if oe.Code != "" {
		params = `error="` + string(oe.Code) + `"`
		if oe.Description != "" {
			params += `, error_description="` + quoteEscape(oe.Description) + `"`
		}
	}
	var algs string
	if iss.DPoP != nil {
		algs = `algs="` + strings.Join(iss.DPoP.AcceptedAlgs(), " ") + `"`
	}
	join := func(scheme, a, b string) string {
		switch {
		case a == "" && b == "":
			return scheme
		case a == "" || b == "":
			return scheme + " " + a + b
		}
		return scheme + " " + a + ", " + b
	}
	if p.scheme == dpop.TokenType && iss.DPoP != nil {
		e.Challenges = []string{join("DPoP", params, algs)}
		if oe.Code == dpop.UseNonce {
			e.Nonce = iss.DPoP.Nonce()
		}
		return e
	}
	e.Challenges = []string{join("Bearer", params, "")}
	if iss.DPoP != nil {
		e.Challenges = append(e.Challenges, join("DPoP", "", algs))
	}
	return e
}

// verifyJWT validates a JWT access token (RFC 9068 §4): signed by the
// OP with an asymmetric alg, typ at+jwt, iss the OP, aud containing
// Audience, not expired.
func (iss *Issuer) verifyJWT(ctx context.Context, raw string) (*Token, error) {
	if iss.Audience == "" {
		return nil, oauth.Errorf(oauth.InvalidToken, "this resource does not accept JWT access tokens")
	}
	meta, err := iss.metadata(ctx)
	if err != nil {
		return nil, err
	}
	op := store.Client{ID: meta.Issuer, JWKSURI: meta.JWKSURI}
	set, err := iss.jwks.Keys(ctx, op)
	if err != nil {
		return nil, fmt.Errorf("resource: fetch the OP's JWK Set: %w", err)
	}
	h, payload, err := keys.VerifyJWS(raw, set, keys.SigningAlgs())
	if errors.Is(err, keys.ErrUnknownKey) {
		// The OP may have rotated its keys since the set was fetched.
		if set, err = iss.jwks.Refresh(ctx, op); err != nil {
			return nil, fmt.Errorf("resource: refetch the OP's JWK Set: %w", err)
		}
		h, payload, err = keys.VerifyJWS(raw, set, keys.SigningAlgs())
	}
	if err != nil {
		return nil, oauth.Errorf(oauth.InvalidToken, "the access token's signature does not verify").WithCause(err)
	}
	typ, _ := h.ExtraHeaders["typ"].(string)
	if t := strings.ToLower(typ); t != "at+jwt" && t != "application/at+jwt" {
		return nil, oauth.Errorf(oauth.InvalidToken, "the JWT is not an access token (typ at+jwt)")
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, oauth.Errorf(oauth.InvalidToken, "the access token's claims are not a JSON object")
	}
	if s, _ := claims["iss"].(string); s != iss.URL {
		return nil, oauth.Errorf(oauth.InvalidToken, "the access token's issuer is not the expected one")
	}
	if !hasAudience(claims["aud"], iss.Audience) {
		return nil, oauth.Errorf(oauth.InvalidToken, "the access token is not meant for this resource")
	}
	exp, ok := claims["exp"].(float64)
	if !ok || !iss.now().Before(time.Unix(int64(exp), 0)) {
		return nil, oauth.Errorf(oauth.InvalidToken, "the access token expired")
	}
	return tokenOf(claims), nil
}

// introspect asks the OP about an opaque access token (RFC 7662 §2).
func (iss *Issuer) introspect(ctx context.Context, tok string) (*Token, error) {
	if iss.ClientID == "" {
		return nil, oauth.Errorf(oauth.InvalidToken, "this resource does not accept opaque access tokens")
	}
	meta, err := iss.metadata(ctx)
	if err != nil {
		return nil, err
	}
	if meta.IntrospectionEndpoint == "" {
		return nil, errors.New("resource: the OP has no introspection endpoint")
	}
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, meta.IntrospectionEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("resource: introspection request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: the credentials are form-encoded before Basic.
	req.SetBasicAuth(url.QueryEscape(iss.ClientID), url.QueryEscape(iss.ClientSecret))
	var claims map[string]any
	if err := iss.getJSON(req, &claims); err != nil {
		return nil, fmt.Errorf("resource: introspection: %w", err)
	}
	if active, _ := claims["active"].(bool); !active {
		return nil, oauth.Errorf(oauth.InvalidToken, "the access token is unknown, expired or revoked")
	}
	// RFC 7662 §2.2: token_type names an access token type; a refresh
	// token has none, and is no credential for a resource.
	if tt, _ := claims["token_type"].(string); !strings.EqualFold(tt, "Bearer") && !strings.EqualFold(tt, dpop.TokenType) {
		return nil, oauth.Errorf(oauth.InvalidToken, "the token is not an access token")
	}
	if aud, ok := claims["aud"]; ok && iss.Audience != "" && !hasAudience(aud, iss.Audience) {
		return nil, oauth.Errorf(oauth.InvalidToken, "the access token is not meant for this resource")
	}
	if exp, ok := claims["exp"].(float64); ok && !iss.now().Before(time.Unix(int64(exp), 0)) {
		return nil, oauth.Errorf(oauth.InvalidToken, "the access token expired")
	}
	return tokenOf(claims), nil
}

// tokenOf builds a Token from JWT or introspection claims, which share
// their names (RFC 7662 §2.2, RFC 9068 §2.2).
func tokenOf(claims map[string]any) *Token {
	t := &Token{Claims: claims}
	t.Subject, _ = claims["sub"].(string)
	t.ClientID, _ = claims["client_id"].(string)
	if s, ok := claims["scope"].(string); ok {
		t.Scopes = strings.Fields(s)
	}
	if exp, ok := claims["exp"].(float64); ok {
		t.ExpiresAt = time.Unix(int64(exp), 0).UTC()
	}
	if cnf, ok := claims["cnf"].(map[string]any); ok {
		t.JKT, _ = cnf["jkt"].(string)
		t.X5TS256, _ = cnf["x5t#S256"].(string)
	}
	return t
}

// metadata returns the OP's discovery document, fetched at most once
// per MetadataTTL. Its issuer must be URL (OpenID Connect Discovery 1.0
// §4.3), so that a document served elsewhere cannot redirect us.
func (iss *Issuer) metadata(ctx context.Context) (*metadata, error) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	if !iss.jwksReady {
		iss.jwks.HTTPClient, iss.jwks.Now, iss.jwksReady = iss.HTTPClient, iss.Now, true
	}
	ttl := iss.MetadataTTL
	if ttl <= 0 {
		ttl = DefaultMetadataTTL
	}
	if iss.meta != nil && iss.now().Sub(iss.fetchedAt) < ttl {
		return iss.meta, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(iss.URL, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return nil, fmt.Errorf("resource: discovery request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	var m metadata
	if err := iss.getJSON(req, &m); err != nil {
		return nil, fmt.Errorf("resource: discovery: %w", err)
	}
	if m.Issuer != iss.URL {
		return nil, fmt.Errorf("resource: discovery names issuer %q, not %q", m.Issuer, iss.URL)
	}
	if m.JWKSURI == "" {
		return nil, errors.New("resource: discovery has no jwks_uri")
	}
	iss.meta, iss.fetchedAt = &m, iss.now()
	return iss.meta, nil
}

// getJSON sends req and decodes a 200 JSON answer into v.
func (iss *Issuer) getJSON(req *http.Request, v any) error {
	hc := iss.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", req.URL.Redacted(), resp.Status)
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "application/json" {
		return fmt.Errorf("%s answered %q, not JSON", req.URL.Redacted(), ct)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return err
	}
	if len(b) > maxResponseBytes {
		return fmt.Errorf("%s answered more than %d bytes", req.URL.Redacted(), maxResponseBytes)
	}
	return json.Unmarshal(b, v)
}

// resourceURL returns the htu of r.
func (iss *Issuer) resourceURL(r *http.Request) string {
	if iss.ResourceURL != nil {
		return iss.ResourceURL(r)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}

func (iss *Issuer) now() time.Time {
	if iss.Now != nil {
		return iss.Now()
	}
	return time.Now()
}

// looksLikeJWT reports whether tok has the shape of a compact JWS whose
// header is JSON: our opaque tokens are base64url without dots.
func looksLikeJWT(tok string) bool {
	head, rest, ok := strings.Cut(tok, ".")
	if !ok || strings.Count(rest, ".") != 1 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	return err == nil && json.Valid(b)
}

// hasAudience reports whether aud, a string or an array of strings (RFC
// 7519 §4.1.3), contains want.
func hasAudience(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, v := range a {
			if s, _ := v.(string); s == want {
				return true
			}
		}
	}
	return false
}

// quoteEscape escapes s for an HTTP quoted-string (RFC 9110 §5.6.4).
func quoteEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
