package clientauth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/mtls"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// Defaults for the zero values of Authenticator's fields.
const (
	DefaultSkew                 = 60 * time.Second
	DefaultMaxAssertionLifetime = 10 * time.Minute
)

// KeySource resolves a client's public keys from its registered jwks or
// jwks_uri (RFC 7591 §2). keys.ClientKeys implements it.
type KeySource interface {
	// Keys returns the client's current key set, possibly cached.
	Keys(ctx context.Context, c store.Client) (*jose.JSONWebKeySet, error)
	// Refresh refetches the client's keys once, rate limited by the
	// implementation. Authenticate calls it when an assertion names a kid
	// that Keys does not know, so that a client can rotate its keys
	// (OIDC Core §10.1.1).
	Refresh(ctx context.Context, c store.Client) (*jose.JSONWebKeySet, error)
}

// Authenticator authenticates clients with the method each registered as
// its token_endpoint_auth_method. Its zero-valued optional fields take
// defaults; it is safe for concurrent use.
type Authenticator struct {
	// Store loads clients and records used assertion IDs. Required.
	Store store.Store
	// Keys resolves the keys of private_key_jwt clients. Required when
	// any client uses private_key_jwt.
	Keys KeySource
	// Issuer is the issuer identifier. An assertion's aud may be it.
	Issuer string
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// Skew is the clock skew allowed when checking an assertion's exp,
	// nbf and iat. Zero or negative means DefaultSkew (60 s).
	Skew time.Duration
	// MaxAssertionLifetime bounds how far in the future an assertion's
	// exp may be, which bounds how long its jti must be remembered. Zero
	// or negative means DefaultMaxAssertionLifetime (10 minutes).
	MaxAssertionLifetime time.Duration
	// ClientCAs are the certificate authorities whose client
	// certificates tls_client_auth accepts (RFC 8705 §2.1). Nil refuses
	// every tls_client_auth client; self_signed_tls_client_auth needs
	// none.
	ClientCAs *x509.CertPool
}

// failedDescription is the one description for every failure that could
// otherwise tell an unknown client from a wrong credential (or from a
// client registered for another method). The precise reason goes to Cause.
const failedDescription = "client authentication failed"

// Authenticate authenticates the client of r. form is r's already parsed
// body and endpoint the absolute URL of the endpoint being called, which
// an assertion's aud may name instead of the issuer (RFC 7523 §3).
//
// It returns the authenticated client, or an *oauth.Error:
// invalid_request (400) when the request uses more than one method
// (RFC 6749 §2.3) or a malformed client_assertion_type pair (RFC 7521
// §4.2), and invalid_client (401) for every other failure (RFC 6749
// §5.2). Errors that are not the client's fault, such as a store failure,
// are returned as other errors, for the caller to treat as server_error.
func (a *Authenticator) Authenticate(r *http.Request, form oauth.Form, endpoint string) (store.Client, error) {
	m, err := detect(r, form)
	if err != nil {
		return store.Client{}, err
	}
	switch m.method {
	case oauth.AuthSecretBasic, oauth.AuthSecretPost:
		return a.authenticateSecret(r.Context(), m)
	case assertionMethod:
		return a.authenticateAssertion(r.Context(), form, endpoint)
	}
	// RFC 8705 §2: with no other credentials, a client certificate and
	// the client_id authenticate the mutual TLS clients. A certificate
	// next to other credentials is not a second method: it may be there
	// only to bind tokens (RFC 8705 §3).
	if chain := mtls.Chain(r); len(chain) > 0 {
		return a.authenticateCertificate(r.Context(), chain, form)
	}
	// RFC 6749 §2.3: confidential clients authenticate; public clients
	// (OIDC Core §9 "none") have no business at these endpoints.
	return store.Client{}, invalidClient("client authentication is required", errors.New("the request carries no client credentials"))
}

// assertionMethod stands for either JWT method until the client is known:
// the two differ only in the key.
const assertionMethod = "jwt_assertion"

// credentials are what detect found in the request.
type credentials struct {
	method   string // AuthSecretBasic, AuthSecretPost, assertionMethod or ""
	clientID string // for the secret methods
	secret   string // for the secret methods
}

// detect finds the one authentication method the request uses and, for
// the secret methods, the credentials.
func detect(r *http.Request, form oauth.Form) (credentials, error) {
	var used []string
	authz := r.Header.Values("Authorization")
	if len(authz) > 1 {
		return credentials{}, oauth.Errorf(oauth.InvalidRequest, "the request has more than one Authorization header")
	}
	var basic string
	if len(authz) == 1 {
		// RFC 7235 §2.1: the scheme is case-insensitive. Other schemes
		// (Bearer, DPoP) do not authenticate clients and are left alone.
		scheme, rest, _ := strings.Cut(strings.TrimSpace(authz[0]), " ")
		if strings.EqualFold(scheme, "Basic") {
			basic = strings.TrimSpace(rest)
			used = append(used, oauth.AuthSecretBasic)
		}
	}
	if form.Has("client_secret") {
		used = append(used, oauth.AuthSecretPost)
	}
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		used = append(used, assertionMethod)
	}
	if len(used) > 1 {
		// RFC 6749 §2.3: "The client MUST NOT use more than one
		// authentication method in each request."
		return credentials{}, &oauth.Error{
			Code:        oauth.InvalidRequest,
			Description: "the request uses more than one client authentication method",
			Cause:       fmt.Errorf("methods %v", used),
		}
	}
	if len(used) == 0 {
		return credentials{}, nil
	}

	c := credentials{method: used[0]}
	switch c.method {
	case oauth.AuthSecretBasic:
		id, secret, err := parseBasic(basic)
		if err != nil {
			return credentials{}, invalidClient("the Authorization header does not hold valid Basic client credentials (RFC 6749 §2.3.1)", err)
		}
		// A client_id in the body is redundant with Basic, but when
		// present it must name the same client.
		if form.Has("client_id") && form.Get("client_id") != id {
			return credentials{}, invalidClient("client_id does not match the client of the Authorization header", errors.New("client_id in the body differs from the Basic user-id"))
		}
		c.clientID, c.secret = id, secret
	case oauth.AuthSecretPost:
		c.clientID, c.secret = form.Get("client_id"), form.Get("client_secret")
	}
	if c.method != assertionMethod && c.clientID == "" {
		return credentials{}, invalidClient("client_id is missing", fmt.Errorf("%s without a client_id", c.method))
	}
	return c, nil
}

// loadClient loads client id. A client that does not exist is reported as
// a failed authentication with store.ErrNotFound in the cause; other store
// failures are returned as they are.
func (a *Authenticator) loadClient(ctx context.Context, id string) (store.Client, error) {
	c, err := a.Store.Client(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Client{}, failed(fmt.Errorf("client %q: %w", truncate(id, 64), err))
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("load client %q: %w", truncate(id, 64), err)
	}
	return c, nil
}

// isOAuth reports whether err is an *oauth.Error.
func isOAuth(err error) bool {
	var oe *oauth.Error
	return errors.As(err, &oe)
}

// registeredMethod returns the client's token_endpoint_auth_method, which
// RFC 7591 §2 defaults to client_secret_basic.
func registeredMethod(c store.Client) string {
	if c.TokenEndpointAuthMethod == "" {
		return oauth.AuthSecretBasic
	}
	return c.TokenEndpointAuthMethod
}

// failed returns the invalid_client error for a failure that must not
// reveal whether the client exists.
func failed(cause error) *oauth.Error {
	return invalidClient(failedDescription, cause)
}

// invalidClient returns an invalid_client error with a specific
// description, for failures after the client proved its credential or
// that depend only on the request. The status is 401 at both endpoints
// (RFC 6749 §5.2; the conformance suite checks it at the backchannel
// authentication endpoint too).
func invalidClient(description string, cause error) *oauth.Error {
	return &oauth.Error{
		Code:        oauth.InvalidClient,
		Description: description,
		Status:      http.StatusUnauthorized,
		Cause:       cause,
	}
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Authenticator) skew() time.Duration {
	if a.Skew > 0 {
		return a.Skew
	}
	return DefaultSkew
}

func (a *Authenticator) maxLifetime() time.Duration {
	if a.MaxAssertionLifetime > 0 {
		return a.MaxAssertionLifetime
	}
	return DefaultMaxAssertionLifetime
}

// truncate shortens attacker-supplied values before they reach a log.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return oauth.Truncate(s, n) + "…"
}
