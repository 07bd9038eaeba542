package httpapi

import (
	"net/http"
	"slices"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/registration"
	"github.com/backchannel/backchannel/store"
)

// Metadata is the discovery document (OpenID Connect Discovery 1.0 §3,
// RFC 8414, CIBA Core §4). It lists only what the server really does.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	JWKSURI                           string   `json:"jwks_uri"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	BackchannelAuthenticationEndpoint string   `json:"backchannel_authentication_endpoint"`
	BackchannelDeliveryModes          []string `json:"backchannel_token_delivery_modes_supported"`
	BackchannelRequestSigningAlgs     []string `json:"backchannel_authentication_request_signing_alg_values_supported"`
	BackchannelUserCodeParameter      bool     `json:"backchannel_user_code_parameter_supported"`
	GrantTypes                        []string `json:"grant_types_supported"`
	ResponseTypes                     []string `json:"response_types_supported"` // none: there is no authorization endpoint
	Scopes                            []string `json:"scopes_supported"`
	Claims                            []string `json:"claims_supported"`
	SubjectTypes                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgs                []string `json:"id_token_signing_alg_values_supported"`
	ACRValues                         []string `json:"acr_values_supported"`
	TokenEndpointAuthMethods          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	ClaimsParameterSupported          bool     `json:"claims_parameter_supported"`
	RequestParameterSupported         bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	DeviceAPIURI                      string   `json:"device_api_uri"` // backchannel's authentication-device API
	// AuthorizationDetailsTypes (RFC 9396 §10) is absent when none are
	// configured.
	AuthorizationDetailsTypes []string `json:"authorization_details_types_supported,omitempty"`

	// The token lifecycle endpoints, present when Deps.Tokens is set:
	// OIDC Core §5.3, RFC 7662 and RFC 7009, with the metadata of
	// RFC 8414 §2.
	UserInfoEndpoint         string   `json:"userinfo_endpoint,omitempty"`
	IntrospectionEndpoint    string   `json:"introspection_endpoint,omitempty"`
	IntrospectionAuthMethods []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	RevocationEndpoint       string   `json:"revocation_endpoint,omitempty"`
	RevocationAuthMethods    []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`

	// DPoPSigningAlgs (RFC 9449 §5.1) lists the algs of the DPoP proofs
	// the server accepts; absent when Deps.DPoP is nil.
	DPoPSigningAlgs []string `json:"dpop_signing_alg_values_supported,omitempty"`

	// RegistrationEndpoint (RFC 8414 §2, RFC 7591 §3) is present when
	// dynamic registration is enabled.
	RegistrationEndpoint string `json:"registration_endpoint,omitempty"`

	// CertificateBoundAccessTokens (RFC 8705 §3.3): the server issues
	// access tokens bound to the client certificate.
	CertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens"`
	// MTLSEndpointAliases (RFC 8705 §5) are the endpoints where clients
	// present certificates; present when Registration.MTLS is set.
	MTLSEndpointAliases *EndpointAliases `json:"mtls_endpoint_aliases,omitempty"`
}

// EndpointAliases are the mutual TLS endpoint aliases of RFC 8705 §5.
type EndpointAliases struct {
	TokenEndpoint                     string `json:"token_endpoint"`
	BackchannelAuthenticationEndpoint string `json:"backchannel_authentication_endpoint"`
	UserInfoEndpoint                  string `json:"userinfo_endpoint,omitempty"`
	IntrospectionEndpoint             string `json:"introspection_endpoint,omitempty"`
	RevocationEndpoint                string `json:"revocation_endpoint,omitempty"`
}

func newMetadata(d Deps) Metadata {
	modes := make([]string, len(d.Registration.DeliveryModes))
	for i, m := range d.Registration.DeliveryModes {
		modes[i] = string(m)
	}
	var assertionAlgs []string
	for _, m := range registration.AuthMethods() {
		for _, a := range registration.AssertionAlgs(m) {
			if !slices.Contains(assertionAlgs, a) {
				assertionAlgs = append(assertionAlgs, a)
			}
		}
	}
	m := Metadata{
		Issuer:                            d.Issuer,
		JWKSURI:                           endpoint(d.Issuer, "/jwks"),
		TokenEndpoint:                     endpoint(d.Issuer, "/token"),
		BackchannelAuthenticationEndpoint: endpoint(d.Issuer, "/bc-authorize"),
		BackchannelDeliveryModes:          modes,
		BackchannelRequestSigningAlgs:     d.Registration.RequestObjectAlgs,
		BackchannelUserCodeParameter:      true,
		GrantTypes:                        []string{oauth.GrantCIBA},
		ResponseTypes:                     []string{},
		Scopes:                            ciba.Scopes(),
		Claims: []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "amr", "at_hash",
			"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username", "profile",
			"picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at",
			"email", "email_verified", "phone_number", "phone_number_verified", "address"},
		SubjectTypes:                 []string{"public"},
		IDTokenSigningAlgs:           d.Keys.Algs(),
		ACRValues:                    acrValuesSupported(d),
		TokenEndpointAuthMethods:     d.Registration.AuthMethods(),
		TokenEndpointAuthSigningAlgs: assertionAlgs,
		DeviceAPIURI:                 endpoint(d.Issuer, "/device/v1"),
		AuthorizationDetailsTypes:    d.CIBA.AuthorizationDetailTypes,
	}
	if d.DPoP != nil {
		m.DPoPSigningAlgs = d.DPoP.AcceptedAlgs()
	}
	if d.DynamicRegistration != nil {
		m.RegistrationEndpoint = endpoint(d.Issuer, "/register")
	}
	if d.Tokens != nil {
		// Introspection and revocation authenticate clients exactly as
		// the token endpoint does.
		m.GrantTypes = append(m.GrantTypes, oauth.GrantRefresh)
		m.UserInfoEndpoint = endpoint(d.Issuer, "/userinfo")
		m.IntrospectionEndpoint = endpoint(d.Issuer, "/introspect")
		m.IntrospectionAuthMethods = d.Registration.AuthMethods()
		m.RevocationEndpoint = endpoint(d.Issuer, "/revoke")
		m.RevocationAuthMethods = d.Registration.AuthMethods()
	}
	// RFC 8705 §3.3: only a server that sees client certificates can
	// bind tokens to them.
	m.CertificateBoundAccessTokens = d.Registration.MTLS
	if d.Registration.MTLS {
		m.MTLSEndpointAliases = mtlsAliases(d)
	}
	return m
}

// mtlsAliases returns the RFC 8705 §5 aliases of the endpoints that
// authenticate clients or accept certificate-bound tokens: on the mutual
// TLS listener of Deps.MTLSBaseURL, or the normal endpoints when there
// is none.
func mtlsAliases(d Deps) *EndpointAliases {
	base := d.MTLSBaseURL
	if base == "" {
		base = d.Issuer
	}
	a := &EndpointAliases{
		TokenEndpoint:                     endpoint(base, "/token"),
		BackchannelAuthenticationEndpoint: endpoint(base, "/bc-authorize"),
	}
	if d.Tokens != nil {
		a.UserInfoEndpoint = endpoint(base, "/userinfo")
		a.IntrospectionEndpoint = endpoint(base, "/introspect")
		a.RevocationEndpoint = endpoint(base, "/revoke")
	}
	return a
}

// DefaultPolicy returns the registration policy of a server with keys k.
func DefaultPolicy(k *keys.Set, allowInsecure bool) registration.Policy {
	return registration.Policy{
		DeliveryModes:     []store.DeliveryMode{store.Poll, store.Ping, store.Push},
		IDTokenAlgs:       k.Algs(),
		RequestObjectAlgs: ciba.RequestObjectAlgs(),
		Scopes:            ciba.Scopes(),
		ACRValues:         []string{ciba.ACRDeviceKey, ciba.ACRPasskey},
		AllowInsecureURLs: allowInsecure,
	}
}

func handleDiscovery(m Metadata) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		oauth.WriteJSON(w, http.StatusOK, m)
	})
}

func handleJWKS(k *keys.Set) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		oauth.WriteJSON(w, http.StatusOK, k.JWKS())
	})
}

func handleHealth(s store.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.Ping(r.Context()); err != nil {
			oauth.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		oauth.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

func notFound(w http.ResponseWriter, r *http.Request) {
	oauth.WriteError(w, oauth.Errorf(oauth.NotFound, "no such endpoint"))
}

// acrValuesSupported lists the acr values an approval can reach: the
// device key always, a passkey when the server has passkeys.
func acrValuesSupported(d Deps) []string {
	if d.DeviceAuth != nil && d.DeviceAuth.Passkeys != nil {
		return []string{ciba.ACRDeviceKey, ciba.ACRPasskey}
	}
	return []string{ciba.ACRDeviceKey}
}
