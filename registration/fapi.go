package registration

import (
	"fmt"
	"slices"
	"strings"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// maxSoftwareID bounds software_id, an opaque identifier (RFC 7591 §2).
const maxSoftwareID = 255

// checkExtensions validates the metadata that came with dynamic
// registration and the FAPI-CIBA profile (logo_uri, software_id,
// profile, tls_client_certificate_bound_access_tokens), copies it
// into c, and applies the FAPI-CIBA client rules when they apply. It
// returns the problems found, for Validate to report with the others.
func checkExtensions(c *store.Client, m Metadata, p Policy) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	c.LogoURI = m.LogoURI
	if c.LogoURI != "" {
		// The logo is fetched by the user's device, so it must be https
		// even in --dev.
		if err := checkURL(c.LogoURI, false); err != nil {
			bad("logo_uri: %v", err)
		}
	}
	c.SoftwareID = m.SoftwareID
	if len(c.SoftwareID) > maxSoftwareID {
		bad("software_id is longer than %d characters", maxSoftwareID)
	}
	c.CertificateBoundAccessTokens = m.CertificateBoundAccessTokens != nil && *m.CertificateBoundAccessTokens
	c.DPoPBoundAccessTokens = m.DPoPBoundAccessTokens

	c.Profile = m.Profile
	switch {
	case c.Profile == "" && p.RequireFAPI:
		c.Profile = ciba.ProfileFAPI
	case c.Profile == "" || c.Profile == ciba.ProfileFAPI:
	default:
		bad("profile %q is unknown (supported: %s)", c.Profile, ciba.ProfileFAPI)
		return problems
	}
	if c.Profile == ciba.ProfileFAPI {
		problems = append(problems, fapiProblems(c, m, p)...)
	}
	return problems
}

// fapiProblems applies the client rules of the FAPI-CIBA profile and of
// the FAPI 1.0 Advanced rules it pulls in to c, filling in what the
// profile implies (the ID token alg, certificate-bound access tokens),
// and returns each rule c breaks.
func fapiProblems(c *store.Client, m Metadata, p Policy) []string {
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, "FAPI-CIBA: "+fmt.Sprintf(format, args...))
	}
	algs := ciba.FAPIAlgs()
	algList := strings.Join(algs, " or ")

	// FAPI-CIBA §5.2.2 (3): push mode is not supported; poll and ping
	// return tokens only from the token endpoint, where they can be
	// sender-constrained.
	if c.DeliveryMode == store.Push {
		bad("backchannel_token_delivery_mode must be poll or ping, not push (FAPI-CIBA §5.2.2)")
	}

	// FAPI 1.0 Advanced §5.2.2 (14): confidential clients authenticate
	// with private_key_jwt or mutual TLS; shared secrets are refused.
	if !slices.Contains(ciba.FAPIAuthMethods(), c.TokenEndpointAuthMethod) {
		bad("token_endpoint_auth_method must be %s, not %s (FAPI 1.0 Advanced §5.2.2)",
			strings.Join(ciba.FAPIAuthMethods(), ", "), c.TokenEndpointAuthMethod)
	}
	// FAPI 1.0 Advanced §8.6: PS256 or ES256 for every JWS. The method's
	// own alg list would otherwise let RS256 and EdDSA assertions in.
	if c.TokenEndpointAuthMethod == oauth.AuthPrivateKey && !slices.Contains(algs, c.TokenEndpointAuthSigningAlg) {
		if c.TokenEndpointAuthSigningAlg == "" {
			bad("token_endpoint_auth_signing_alg is required with private_key_jwt and must be %s (FAPI 1.0 Advanced §8.6)", algList)
		} else {
			bad("token_endpoint_auth_signing_alg must be %s, not %s (FAPI 1.0 Advanced §8.6)", algList, c.TokenEndpointAuthSigningAlg)
		}
	}

	// FAPI-CIBA §5.2.2: authentication requests are signed (CIBA Core
	// §7.1.1), with PS256 or ES256.
	switch {
	case c.RequestSigningAlg == "":
		bad("backchannel_authentication_request_signing_alg is required and must be %s (FAPI-CIBA §5.2.2, FAPI 1.0 Advanced §8.6)", algList)
	case !slices.Contains(algs, c.RequestSigningAlg):
		bad("backchannel_authentication_request_signing_alg must be %s, not %s (FAPI 1.0 Advanced §8.6)", algList, c.RequestSigningAlg)
	}

	// FAPI 1.0 Advanced §8.6: ID tokens signed with PS256 or ES256, and
	// with a key this server has. Absent, the first such configured alg
	// is registered, so the client knows what it will get.
	switch alg := c.IDTokenSignedResponseAlg; {
	case alg == "":
		for _, a := range p.IDTokenAlgs {
			if slices.Contains(algs, a) {
				c.IDTokenSignedResponseAlg = a
				break
			}
		}
		if c.IDTokenSignedResponseAlg == "" {
			bad("the server has no %s signing key for ID tokens (configured: %s)", algList, strings.Join(p.IDTokenAlgs, ", "))
		}
	case !slices.Contains(algs, alg):
		bad("id_token_signed_response_alg must be %s, not %s (FAPI 1.0 Advanced §8.6)", algList, alg)
	}

	// FAPI 1.0 Advanced §5.2.2 (5): access tokens are bound to the
	// client's certificate (RFC 8705 §3). The profile implies it; an
	// explicit false contradicts it.
	if m.CertificateBoundAccessTokens != nil && !*m.CertificateBoundAccessTokens {
		bad("tls_client_certificate_bound_access_tokens must be true (FAPI 1.0 Advanced §5.2.2, RFC 8705 §3)")
	}
	c.CertificateBoundAccessTokens = true
	return problems
}

// trueOrNil returns a pointer to true when b is set, so that metadata
// documents carry the flag only for the clients that have it.
func trueOrNil(b bool) *bool {
	if !b {
		return nil
	}
	return &b
}
