package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Client authentication methods (OIDC Core §9, RFC 7523 §2.2).
const (
	AuthSecretBasic = "client_secret_basic"
	AuthSecretPost  = "client_secret_post"
	AuthSecretJWT   = "client_secret_jwt"
	AuthPrivateKey  = "private_key_jwt"
	// AuthTLS and AuthSelfSignedTLS authenticate with the client
	// certificate of Config.HTTPClient's TLS configuration (RFC 8705 §2).
	AuthTLS           = "tls_client_auth"
	AuthSelfSignedTLS = "self_signed_tls_client_auth"
)

// GrantCIBA is the grant_type of the CIBA token request (CIBA Core §10.1).
const GrantCIBA = "urn:openid:params:grant-type:ciba"

// maxBody bounds every response body the client reads. Discovery
// documents, key sets and token responses are a few kilobytes; a megabyte
// leaves room for large key sets without letting a broken or hostile
// server exhaust memory.
const maxBody = 1 << 20

// defaultTimeout is the timeout of the HTTP client used when
// Config.HTTPClient is nil. CIBA Core §10.1 asks clients to be ready to
// wait 30 seconds for a long-polling token response.
const defaultTimeout = 30 * time.Second

// Config configures a relying party.
type Config struct {
	// Issuer is the OP's issuer identifier. Discovery is fetched from
	// Issuer + "/.well-known/openid-configuration", and the issuer in the
	// document must equal Issuer exactly (OpenID Connect Discovery §4.3).
	Issuer string
	// ClientID is the client identifier the OP issued.
	ClientID string
	// ClientSecret authenticates the client with client_secret_basic,
	// client_secret_post or client_secret_jwt. client_secret_jwt needs at
	// least 32 bytes (RFC 7518 §3.2: an HS256 key is at least 256 bits).
	ClientSecret string
	// AuthMethod is the client authentication method used at both the
	// backchannel authentication endpoint and the token endpoint:
	// "client_secret_basic" (the default), "client_secret_post",
	// "client_secret_jwt" or "private_key_jwt".
	AuthMethod string
	// PrivateKey signs private_key_jwt assertions and request objects.
	PrivateKey crypto.Signer
	// KeyID is the kid header of JWTs signed with PrivateKey; optional.
	KeyID string
	// SigningAlg is the JWS algorithm used with PrivateKey. The default
	// follows the key: ES256 for ECDSA P-256 (ES384 and ES512 for P-384
	// and P-521), PS256 for RSA, EdDSA for Ed25519.
	SigningAlg string
	// HTTPClient sends every request. Defaults to a client with a
	// 30-second timeout that does not follow redirects.
	HTTPClient *http.Client
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// Metadata holds the fields of the OP's discovery document that the
// client uses (OpenID Connect Discovery §3, CIBA Core §4).
type Metadata struct {
	Issuer                                                    string   `json:"issuer"`
	BackchannelAuthenticationEndpoint                         string   `json:"backchannel_authentication_endpoint"`
	TokenEndpoint                                             string   `json:"token_endpoint"`
	JWKSURI                                                   string   `json:"jwks_uri"`
	UserinfoEndpoint                                          string   `json:"userinfo_endpoint,omitempty"`
	GrantTypesSupported                                       []string `json:"grant_types_supported,omitempty"`
	ScopesSupported                                           []string `json:"scopes_supported,omitempty"`
	IDTokenSigningAlgValuesSupported                          []string `json:"id_token_signing_alg_values_supported,omitempty"`
	TokenEndpointAuthMethodsSupported                         []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	TokenEndpointAuthSigningAlgValuesSupported                []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	BackchannelTokenDeliveryModesSupported                    []string `json:"backchannel_token_delivery_modes_supported,omitempty"`
	BackchannelAuthenticationRequestSigningAlgValuesSupported []string `json:"backchannel_authentication_request_signing_alg_values_supported,omitempty"`
	BackchannelUserCodeParameterSupported                     bool     `json:"backchannel_user_code_parameter_supported,omitempty"`
}

// clone returns a deep copy of m, so callers cannot change the client's.
func (m Metadata) clone() Metadata {
	m.GrantTypesSupported = slices.Clone(m.GrantTypesSupported)
	m.ScopesSupported = slices.Clone(m.ScopesSupported)
	m.IDTokenSigningAlgValuesSupported = slices.Clone(m.IDTokenSigningAlgValuesSupported)
	m.TokenEndpointAuthMethodsSupported = slices.Clone(m.TokenEndpointAuthMethodsSupported)
	m.TokenEndpointAuthSigningAlgValuesSupported = slices.Clone(m.TokenEndpointAuthSigningAlgValuesSupported)
	m.BackchannelTokenDeliveryModesSupported = slices.Clone(m.BackchannelTokenDeliveryModesSupported)
	m.BackchannelAuthenticationRequestSigningAlgValuesSupported = slices.Clone(m.BackchannelAuthenticationRequestSigningAlgValuesSupported)
	return m
}

// Client is a CIBA relying party bound to one OP. It is safe for
// concurrent use.
type Client struct {
	cfg    Config
	http   *http.Client
	now    func() time.Time
	meta   Metadata
	idAlgs []jose.SignatureAlgorithm // accepted ID token algorithms
	keyAlg jose.SignatureAlgorithm   // algorithm used with cfg.PrivateKey
	jwksMu sync.Mutex                // guards jwks and jwksOK, and serialises fetches
	jwks   []jose.JSONWebKey
	jwksOK bool
}

// New checks cfg, fetches the OP's discovery document and returns a
// Client for it. It refuses a document whose issuer differs from
// cfg.Issuer or that lacks the backchannel authentication endpoint, the
// token endpoint or the jwks_uri.
func New(ctx context.Context, cfg Config) (*Client, error) {
	c := &Client{cfg: cfg, http: cfg.HTTPClient, now: cfg.Now}
	if c.http == nil {
		c.http = &http.Client{Timeout: defaultTimeout, CheckRedirect: noRedirects}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.cfg.AuthMethod == "" {
		c.cfg.AuthMethod = AuthSecretBasic
	}
	if err := c.checkConfig(); err != nil {
		return nil, err
	}
	meta, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	c.meta = meta
	c.idAlgs = idTokenAlgs(meta.IDTokenSigningAlgValuesSupported)
	if len(c.idAlgs) == 0 {
		return nil, fmt.Errorf("discovery: id_token_signing_alg_values_supported %q names no asymmetric algorithm this client accepts", meta.IDTokenSigningAlgValuesSupported)
	}
	// RFC 8414 §2: token_endpoint_auth_methods_supported defaults to
	// client_secret_basic when absent. Refusing here gives a clear error
	// instead of an invalid_client on the first request.
	if methods := meta.TokenEndpointAuthMethodsSupported; len(methods) > 0 && !slices.Contains(methods, c.cfg.AuthMethod) {
		return nil, fmt.Errorf("the OP does not support client authentication method %s (it supports %s)", c.cfg.AuthMethod, strings.Join(methods, ", "))
	}
	return c, nil
}

// checkConfig reports every problem in the configuration at once and
// settles the signing algorithm of the private key.
func (c *Client) checkConfig() error {
	cfg := &c.cfg
	var problems []error
	if u, err := url.Parse(cfg.Issuer); cfg.Issuer == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		// OpenID Connect Discovery §2: an issuer is a URL with a scheme and
		// host and no query or fragment.
		problems = append(problems, fmt.Errorf("issuer %q is not an http(s) URL without query or fragment", cfg.Issuer))
	}
	if cfg.ClientID == "" {
		problems = append(problems, errors.New("no client ID"))
	}
	switch cfg.AuthMethod {
	case AuthSecretBasic, AuthSecretPost:
		if cfg.ClientSecret == "" {
			problems = append(problems, fmt.Errorf("%s needs a client secret", cfg.AuthMethod))
		}
	case AuthSecretJWT:
		if len(cfg.ClientSecret) < 32 {
			problems = append(problems, errors.New("client_secret_jwt needs a client secret of at least 32 bytes (RFC 7518 §3.2)"))
		}
	case AuthPrivateKey:
		if cfg.PrivateKey == nil {
			problems = append(problems, errors.New("private_key_jwt needs a private key"))
		}
	case AuthTLS, AuthSelfSignedTLS:
		// The certificate travels in the TLS handshake of HTTPClient.
		if cfg.HTTPClient == nil {
			problems = append(problems, fmt.Errorf("%s needs an HTTPClient that presents the client certificate", cfg.AuthMethod))
		}
	default:
		problems = append(problems, fmt.Errorf("unknown client authentication method %q", cfg.AuthMethod))
	}
	if cfg.PrivateKey != nil {
		alg, err := keyAlg(cfg.PrivateKey, cfg.SigningAlg)
		if err != nil {
			problems = append(problems, err)
		}
		c.keyAlg = alg
	}
	return errors.Join(problems...)
}

// keyAlg returns the JWS algorithm to sign with key: want if it suits the
// key, otherwise the key type's default.
func keyAlg(key crypto.Signer, want string) (jose.SignatureAlgorithm, error) {
	var algs []jose.SignatureAlgorithm
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			algs = []jose.SignatureAlgorithm{jose.ES256}
		case elliptic.P384():
			algs = []jose.SignatureAlgorithm{jose.ES384}
		case elliptic.P521():
			algs = []jose.SignatureAlgorithm{jose.ES512}
		}
	case *rsa.PublicKey:
		// PS256 first: FAPI 1.0 Advanced §8.6 forbids RS256.
		algs = []jose.SignatureAlgorithm{jose.PS256, jose.PS384, jose.PS512, jose.RS256, jose.RS384, jose.RS512}
	case ed25519.PublicKey:
		algs = []jose.SignatureAlgorithm{jose.EdDSA}
	}
	if len(algs) == 0 {
		return "", fmt.Errorf("unsupported private key type %T", key.Public())
	}
	if want == "" {
		return algs[0], nil
	}
	if !slices.Contains(algs, jose.SignatureAlgorithm(want)) {
		return "", fmt.Errorf("signing alg %s does not suit a %T key", want, key.Public())
	}
	return jose.SignatureAlgorithm(want), nil
}

// noRedirects stops the default HTTP client from following redirects:
// no endpoint the client calls is defined to redirect (RFC 6749 §3.2,
// CIBA Core §7), and following a 307 would resend the client's
// credentials to wherever it points.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Metadata returns the discovery fields the client uses.
func (c *Client) Metadata() Metadata { return c.meta.clone() }

// discover fetches and checks the discovery document (OpenID Connect
// Discovery §4).
func (c *Client) discover(ctx context.Context) (Metadata, error) {
	// Discovery §4: a terminating "/" of the issuer is removed before
	// appending the well-known path.
	u := strings.TrimSuffix(c.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	var m Metadata
	if err := c.getJSON(ctx, u, &m); err != nil {
		return Metadata{}, fmt.Errorf("discovery: %w", err)
	}
	var problems []error
	// Discovery §4.3: the issuer returned MUST be identical to the one
	// used to build the URL; anything else may be an impersonating OP.
	if m.Issuer != c.cfg.Issuer {
		problems = append(problems, fmt.Errorf("issuer %q does not match the configured issuer %q", m.Issuer, c.cfg.Issuer))
	}
	for _, f := range []struct{ name, value string }{
		{"backchannel_authentication_endpoint", m.BackchannelAuthenticationEndpoint},
		{"token_endpoint", m.TokenEndpoint},
		{"jwks_uri", m.JWKSURI},
	} {
		if u, err := url.Parse(f.value); f.value == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			problems = append(problems, fmt.Errorf("%s %q is not an http(s) URL", f.name, f.value))
		}
	}
	if err := errors.Join(problems...); err != nil {
		return Metadata{}, fmt.Errorf("discovery: %w", err)
	}
	return m, nil
}

// getJSON GETs u and decodes a 200 response into out.
func (c *Client) getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	status, body, err := c.do(req)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: %w", u, responseError(status, body))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: decode response: %w", u, err)
	}
	return nil
}

// postForm POSTs form to endpoint, authenticated as the client, and
// returns the status and body of the response.
func (c *Client) postForm(ctx context.Context, endpoint string, form url.Values) (int, []byte, error) {
	header := make(http.Header)
	if err := c.authenticate(form, header); err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header = header
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return c.do(req)
}

// do sends req and reads at most maxBody bytes of the response.
func (c *Client) do(req *http.Request) (int, []byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read response: %w", req.Method, req.URL.Redacted(), err)
	}
	if len(body) > maxBody {
		return 0, nil, fmt.Errorf("%s %s: response larger than %d bytes", req.Method, req.URL.Redacted(), maxBody)
	}
	return resp.StatusCode, bytes.TrimSpace(body), nil
}
