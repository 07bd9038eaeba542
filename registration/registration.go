package registration

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// Metadata is a client metadata document (RFC 7591 §2, CIBA Core §4).
type Metadata struct {
	ClientID                    string          `json:"client_id,omitempty"`
	ClientSecret                string          `json:"client_secret,omitempty"`
	ClientIDIssuedAt            int64           `json:"client_id_issued_at,omitempty"`
	ClientSecretExpiresAt       *int64          `json:"client_secret_expires_at,omitempty"`
	ClientName                  string          `json:"client_name,omitempty"`
	GrantTypes                  []string        `json:"grant_types,omitempty"`
	Scope                       string          `json:"scope,omitempty"`
	TokenEndpointAuthMethod     string          `json:"token_endpoint_auth_method,omitempty"`
	TokenEndpointAuthSigningAlg string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	JWKS                        json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                     string          `json:"jwks_uri,omitempty"`
	DeliveryMode                string          `json:"backchannel_token_delivery_mode,omitempty"`
	NotificationEndpoint        string          `json:"backchannel_client_notification_endpoint,omitempty"`
	RequestSigningAlg           string          `json:"backchannel_authentication_request_signing_alg,omitempty"`
	UserCodeParameter           bool            `json:"backchannel_user_code_parameter,omitempty"`
	TLSClientAuthSubjectDN      string          `json:"tls_client_auth_subject_dn,omitempty"`
	// The other names of a tls_client_auth client's certificate (RFC
	// 8705 §2.1.2); see tlsauth.go.
	TLSClientAuthSANDNS      string `json:"tls_client_auth_san_dns,omitempty"`
	TLSClientAuthSANURI      string `json:"tls_client_auth_san_uri,omitempty"`
	TLSClientAuthSANIP       string `json:"tls_client_auth_san_ip,omitempty"`
	TLSClientAuthSANEmail    string `json:"tls_client_auth_san_email,omitempty"`
	IDTokenSignedResponseAlg string `json:"id_token_signed_response_alg,omitempty"`

	// LogoURI is logo_uri (RFC 7591 §2), shown on the authentication
	// device; https only.
	LogoURI string `json:"logo_uri,omitempty"`
	// SoftwareID is software_id (RFC 7591 §2), usually asserted by a
	// software statement.
	SoftwareID string `json:"software_id,omitempty"`
	// Profile is backchannel's extension member "profile": "" or
	// "fapi-ciba", which holds the client to the FAPI-CIBA rules.
	Profile string `json:"profile,omitempty"`
	// CertificateBoundAccessTokens is
	// tls_client_certificate_bound_access_tokens (RFC 8705 §3.4); nil
	// when absent, so that an explicit false can be told apart.
	CertificateBoundAccessTokens *bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// DPoPBoundAccessTokens is dpop_bound_access_tokens (RFC 9449 §5.2):
	// the client always sends DPoP proofs at the token endpoint.
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`
	// DefaultACRValues is default_acr_values (OpenID Connect Dynamic
	// Client Registration §2): the acr values of requests that name none.
	// With ciba.ACRPasskey alone, every approval needs a passkey.
	DefaultACRValues []string `json:"default_acr_values,omitempty"`
}

// Policy is what the server supports; metadata asking for anything else
// is refused.
type Policy struct {
	DeliveryModes     []store.DeliveryMode // supported backchannel_token_delivery_mode values
	IDTokenAlgs       []string             // id_token_signing_alg_values_supported
	RequestObjectAlgs []string             // backchannel_authentication_request_signing_alg_values_supported
	Scopes            []string             // scopes_supported
	ACRValues         []string             // acr_values_supported: what default_acr_values may name
	// AllowInsecureURLs accepts http and loopback notification endpoints
	// and jwks_uri values (--dev only).
	AllowInsecureURLs bool
	// MTLS reports that the server sees client certificates (it
	// terminates TLS or trusts a proxy's header), so that the RFC 8705
	// methods tls_client_auth and self_signed_tls_client_auth work.
	MTLS bool

	// RequireFAPI applies the FAPI-CIBA client rules (see fapi.go) to
	// every client, whatever its profile says.
	RequireFAPI bool
	// SoftwareStatementIssuers are the trusted issuers of software
	// statements (RFC 7591 §2.3), by iss, with their public keys.
	SoftwareStatementIssuers map[string]*jose.JSONWebKeySet
	// RequireSoftwareStatement refuses dynamic registrations that carry
	// no software statement. The admin API is not affected.
	RequireSoftwareStatement bool
}

// AuthMethods are the supported token_endpoint_auth_method values.
func AuthMethods() []string {
	return []string{oauth.AuthSecretBasic, oauth.AuthSecretPost, oauth.AuthSecretJWT, oauth.AuthPrivateKey}
}

// AssertionAlgs returns the supported token_endpoint_auth_signing_alg
// values of a method.
func AssertionAlgs(method string) []string {
	switch method {
	case oauth.AuthSecretJWT:
		// Generated secrets are 43 bytes: long enough for HS256 but
		// shorter than RFC 7518 §3.2 requires for HS384 and HS512.
		return []string{"HS256"}
	case oauth.AuthPrivateKey:
		return []string{"ES256", "PS256", "RS256", "EdDSA"}
	}
	return nil
}

// GrantTypes are the supported grant types.
func GrantTypes() []string { return []string{oauth.GrantCIBA, oauth.GrantRefresh} }

// Validate checks m against p and returns the client it describes, with
// every problem reported at once as invalid_client_metadata (RFC 7591
// §3.2.2). Defaults: grant_types [CIBA], client_secret_basic, poll.
// The caller sets ID, secret and CreatedAt.
func Validate(m Metadata, p Policy) (store.Client, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	c := store.Client{
		Name:                        strings.TrimSpace(m.ClientName),
		GrantTypes:                  m.GrantTypes,
		Scope:                       m.Scope,
		TokenEndpointAuthMethod:     m.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg: m.TokenEndpointAuthSigningAlg,
		JWKS:                        m.JWKS,
		JWKSURI:                     m.JWKSURI,
		DeliveryMode:                store.DeliveryMode(m.DeliveryMode),
		NotificationEndpoint:        m.NotificationEndpoint,
		RequestSigningAlg:           m.RequestSigningAlg,
		UserCodeParameter:           m.UserCodeParameter,
		TLSClientAuthSubjectDN:      m.TLSClientAuthSubjectDN,
		IDTokenSignedResponseAlg:    m.IDTokenSignedResponseAlg,
		DefaultACRValues:            m.DefaultACRValues,
	}
	if len(c.DefaultACRValues) > 10 {
		bad("default_acr_values names more than 10 values")
	}
	for _, v := range c.DefaultACRValues {
		if !slices.Contains(p.ACRValues, v) {
			bad("default_acr_values: %q is not supported (acr_values_supported: %s)", v, strings.Join(p.ACRValues, " "))
		}
	}
	if len(c.Name) > 200 {
		bad("client_name is longer than 200 characters")
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{oauth.GrantCIBA}
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(GrantTypes(), g) {
			bad("grant type %q is not supported (supported: %s)", g, strings.Join(GrantTypes(), ", "))
		}
	}
	if !slices.Contains(c.GrantTypes, oauth.GrantCIBA) {
		bad("grant_types must include %s: backchannel serves CIBA clients", oauth.GrantCIBA)
	}
	for _, s := range strings.Fields(c.Scope) {
		if !slices.Contains(p.Scopes, s) {
			bad("scope %q is not supported", s)
		}
	}

	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = oauth.AuthSecretBasic
	}
	switch {
	case slices.Contains(mtlsAuthMethods(), c.TokenEndpointAuthMethod) && !p.MTLS:
		bad("token_endpoint_auth_method %q needs mutual TLS, which this server is not configured for (supported: %s)", c.TokenEndpointAuthMethod, strings.Join(p.AuthMethods(), ", "))
	case !slices.Contains(p.AuthMethods(), c.TokenEndpointAuthMethod):
		bad("token_endpoint_auth_method %q is not supported (supported: %s)", c.TokenEndpointAuthMethod, strings.Join(p.AuthMethods(), ", "))
	}
	if alg := c.TokenEndpointAuthSigningAlg; alg != "" && !slices.Contains(AssertionAlgs(c.TokenEndpointAuthMethod), alg) {
		bad("token_endpoint_auth_signing_alg %q is not supported with %s", alg, c.TokenEndpointAuthMethod)
	}

	if len(c.JWKS) > 0 && c.JWKSURI != "" {
		bad("jwks and jwks_uri must not both be set (RFC 7591 §2)")
	}
	if len(c.JWKS) > 0 {
		if err := checkJWKS(c.JWKS); err != nil {
			bad("jwks: %v", err)
		}
	}
	if c.JWKSURI != "" {
		if err := checkURL(c.JWKSURI, p.AllowInsecureURLs); err != nil {
			bad("jwks_uri: %v", err)
		}
	}
	needsKeys := c.TokenEndpointAuthMethod == oauth.AuthPrivateKey || c.RequestSigningAlg != ""
	if needsKeys && len(c.JWKS) == 0 && c.JWKSURI == "" {
		bad("jwks or jwks_uri is required for private_key_jwt and signed authentication requests")
	}
	// RFC 8705 §2.2.2: a self-signed certificate is registered through
	// its key in jwks or jwks_uri.
	if c.TokenEndpointAuthMethod == oauth.AuthSelfSignedTLS && len(c.JWKS) == 0 && c.JWKSURI == "" {
		bad("jwks or jwks_uri is required for self_signed_tls_client_auth (RFC 8705 §2.2.2)")
	}

	if c.DeliveryMode == "" {
		c.DeliveryMode = store.Poll
	}
	switch c.DeliveryMode {
	case store.Poll:
		if c.NotificationEndpoint != "" {
			bad("backchannel_client_notification_endpoint is only used in ping and push modes")
		}
	case store.Ping, store.Push:
		if c.NotificationEndpoint == "" {
			bad("backchannel_client_notification_endpoint is required for %s mode (CIBA Core §4)", c.DeliveryMode)
		} else if err := checkURL(c.NotificationEndpoint, p.AllowInsecureURLs); err != nil {
			bad("backchannel_client_notification_endpoint: %v", err)
		}
		if !slices.Contains(p.DeliveryModes, c.DeliveryMode) {
			bad("backchannel_token_delivery_mode %q is not supported by this server yet (supported: %s)", c.DeliveryMode, joinModes(p.DeliveryModes))
		}
	default:
		bad("backchannel_token_delivery_mode %q is unknown (CIBA Core §5 defines poll, ping and push)", c.DeliveryMode)
	}
	if alg := c.RequestSigningAlg; alg != "" && !slices.Contains(p.RequestObjectAlgs, alg) {
		bad("backchannel_authentication_request_signing_alg %q is not supported (supported: %s)", alg, strings.Join(p.RequestObjectAlgs, ", "))
	}
	if alg := c.IDTokenSignedResponseAlg; alg != "" && !slices.Contains(p.IDTokenAlgs, alg) {
		bad("id_token_signed_response_alg %q is not supported (supported: %s)", alg, strings.Join(p.IDTokenAlgs, ", "))
	}
	problems = append(problems, checkTLSClientAuth(&c, m)...)
	problems = append(problems, checkExtensions(&c, m, p)...)
	if len(problems) > 0 {
		return store.Client{}, &oauth.Error{Code: oauth.InvalidClientMetadata, Description: strings.Join(problems, "; ")}
	}
	return c, nil
}

// FromClient returns the metadata document of c, without its secret.
func FromClient(c store.Client) Metadata {
	return Metadata{
		ClientID:                     c.ID,
		ClientIDIssuedAt:             c.CreatedAt.Unix(),
		ClientName:                   c.Name,
		GrantTypes:                   c.GrantTypes,
		Scope:                        c.Scope,
		TokenEndpointAuthMethod:      c.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg:  c.TokenEndpointAuthSigningAlg,
		JWKS:                         c.JWKS,
		JWKSURI:                      c.JWKSURI,
		DeliveryMode:                 string(c.DeliveryMode),
		NotificationEndpoint:         c.NotificationEndpoint,
		RequestSigningAlg:            c.RequestSigningAlg,
		UserCodeParameter:            c.UserCodeParameter,
		TLSClientAuthSubjectDN:       c.TLSClientAuthSubjectDN,
		TLSClientAuthSANDNS:          c.TLSClientAuthSANDNS,
		TLSClientAuthSANURI:          c.TLSClientAuthSANURI,
		TLSClientAuthSANIP:           c.TLSClientAuthSANIP,
		TLSClientAuthSANEmail:        c.TLSClientAuthSANEmail,
		IDTokenSignedResponseAlg:     c.IDTokenSignedResponseAlg,
		LogoURI:                      c.LogoURI,
		SoftwareID:                   c.SoftwareID,
		Profile:                      c.Profile,
		CertificateBoundAccessTokens: trueOrNil(c.CertificateBoundAccessTokens),
		DPoPBoundAccessTokens:        c.DPoPBoundAccessTokens,
		DefaultACRValues:             c.DefaultACRValues,
	}
}

// NeverExpires is the client_secret_expires_at value for secrets that do
// not expire (RFC 7591 §3.2.1).
func NeverExpires() *int64 {
	var zero int64
	return &zero
}

func checkJWKS(raw json.RawMessage) error {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return errors.New("not a JWK Set")
	}
	if len(set.Keys) == 0 {
		return errors.New("no keys")
	}
	for _, k := range set.Keys {
		if !k.Valid() {
			return fmt.Errorf("key %q is not valid", k.KeyID)
		}
		if !k.IsPublic() {
			return fmt.Errorf("key %q holds private key material", k.KeyID)
		}
	}
	return nil
}

func checkURL(raw string, insecureOK bool) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("not an absolute URL")
	}
	if u.Fragment != "" || u.User != nil {
		return errors.New("must not contain a fragment or credentials")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && insecureOK:
	default:
		return errors.New("must use https")
	}
	return nil
}

func joinModes(ms []store.DeliveryMode) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}
