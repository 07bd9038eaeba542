package client

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
)

// clientAssertionType is the client_assertion_type of RFC 7523 §2.2.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime is how long a client assertion is valid. It is used
// once, straight away; a minute absorbs clock skew without leaving a
// replayable credential lying around for long.
const assertionLifetime = 60 * time.Second

// authenticate adds the client's credentials to a request to the
// backchannel authentication endpoint or the token endpoint (CIBA Core
// §7.1 and §10.1 both use the token endpoint's client authentication).
func (c *Client) authenticate(form url.Values, header http.Header) error {
	switch c.cfg.AuthMethod {
	case AuthSecretBasic:
		// RFC 6749 §2.3.1: the client ID and secret are form-urlencoded
		// before they are joined and base64-encoded, so a ':' or a
		// non-ASCII character in either survives the trip.
		cred := url.QueryEscape(c.cfg.ClientID) + ":" + url.QueryEscape(c.cfg.ClientSecret)
		header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	case AuthSecretPost:
		form.Set("client_id", c.cfg.ClientID)
		form.Set("client_secret", c.cfg.ClientSecret)
	case AuthTLS, AuthSelfSignedTLS:
		// RFC 8705 §2: client_id names the client; the TLS handshake's
		// certificate authenticates it.
		form.Set("client_id", c.cfg.ClientID)
	case AuthSecretJWT, AuthPrivateKey:
		assertion, err := c.clientAssertion()
		if err != nil {
			return err
		}
		// RFC 7521 §4.2 lets the client send client_id alongside the
		// assertion; it spares the OP a parse before the client lookup.
		form.Set("client_id", c.cfg.ClientID)
		form.Set("client_assertion_type", clientAssertionType)
		form.Set("client_assertion", assertion)
	default:
		return fmt.Errorf("unknown client authentication method %q", c.cfg.AuthMethod)
	}
	return nil
}

// clientAssertion returns a JWT that authenticates the client (RFC 7523
// §3, OIDC Core §9): iss and sub are the client ID, aud the issuer
// identifier (CIBA Core §7.1 asks OPs to accept it at both endpoints), jti
// a fresh 128-bit random value.
func (c *Client) clientAssertion() (string, error) {
	now := c.now()
	claims := map[string]any{
		"iss": c.cfg.ClientID,
		"sub": c.cfg.ClientID,
		"aud": c.cfg.Issuer,
		"iat": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
		"jti": newJTI(),
	}
	if c.cfg.AuthMethod == AuthSecretJWT {
		return c.signHMAC(claims)
	}
	return c.signJWT(claims)
}

// newJTI returns a random JWT ID of 128 bits, base64url-encoded.
func newJTI() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand documentation)
	return base64.RawURLEncoding.EncodeToString(b)
}

// signJWT signs claims with the configured private key.
func (c *Client) signJWT(claims map[string]any) (string, error) {
	if c.cfg.PrivateKey == nil {
		return "", fmt.Errorf("no private key configured")
	}
	key := keyedSigner{OpaqueSigner: cryptosigner.Opaque(c.cfg.PrivateKey), kid: c.cfg.KeyID}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: c.keyAlg, Key: key}, nil)
	if err != nil {
		return "", fmt.Errorf("sign JWT: %w", err)
	}
	return sign(signer, claims)
}

// signHMAC signs claims with HS256 keyed by the client secret
// (client_secret_jwt, OIDC Core §9 and §10.1).
func (c *Client) signHMAC(claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(c.cfg.ClientSecret)}, nil)
	if err != nil {
		return "", fmt.Errorf("sign JWT: %w", err)
	}
	return sign(signer, claims)
}

func sign(signer jose.Signer, claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("sign JWT: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign JWT: %w", err)
	}
	return jws.CompactSerialize()
}

// keyedSigner gives an opaque signer the key ID go-jose puts in the kid
// header.
type keyedSigner struct {
	jose.OpaqueSigner
	kid string
}

func (s keyedSigner) Public() *jose.JSONWebKey {
	pub := *s.OpaqueSigner.Public()
	pub.KeyID = s.kid
	return &pub
}
