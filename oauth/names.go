package oauth

// Grant types, token types and client authentication methods.
const (
	GrantCIBA    = "urn:openid:params:grant-type:ciba"
	GrantRefresh = "refresh_token"

	AuthSecretBasic = "client_secret_basic"
	AuthSecretPost  = "client_secret_post"
	AuthSecretJWT   = "client_secret_jwt"
	AuthPrivateKey  = "private_key_jwt"
	AuthNone        = "none"
	// The mutual TLS methods of RFC 8705 §2.1 and §2.2.
	AuthTLS           = "tls_client_auth"
	AuthSelfSignedTLS = "self_signed_tls_client_auth"

	// ClientAssertionJWT is the client_assertion_type of RFC 7523 §2.2.
	ClientAssertionJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)
