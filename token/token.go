package token

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/backchannel/backchannel/dpop"
	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// The default lifetimes of what Issue mints.
const (
	DefaultAccessTTL  = 10 * time.Minute
	DefaultRefreshTTL = 30 * 24 * time.Hour
	DefaultIDTokenTTL = 10 * time.Minute
)

// The claims CIBA Core §10.3.1 adds to an ID token delivered in push mode.
const (
	ClaimAuthReqID = "urn:openid:params:jwt:claim:auth_req_id"
	ClaimRTHash    = "urn:openid:params:jwt:claim:rt_hash"
)

// ScopeOpenID is the scope that makes a request an OpenID Connect request
// and so earns an ID token (OIDC Core §3.1.2.1).
const ScopeOpenID = "openid"

// The access token formats of Issuer.AccessTokenFormat.
const (
	// FormatOpaque access tokens are 256 random bits, meaningful only to
	// this server (introspection and userinfo look them up).
	FormatOpaque = "opaque"
	// FormatJWT access tokens are JWTs of RFC 9068 that a resource server
	// can verify against the JWKS without calling back.
	FormatJWT = "jwt"
)

// TypeAccessTokenJWT is the typ header of a JWT access token (RFC 9068
// §2.1), which keeps it from being mistaken for an ID token.
const TypeAccessTokenJWT = "at+jwt"

// tokenBytes is the entropy of an access or refresh token: 256 bits, so
// tokens cannot be guessed and a plain SHA-256 can index them (RFC 6749
// §10.10, RFC 6819 §5.1.4.2.2).
const tokenBytes = 32

// Issuer mints the tokens of a token response. Zero durations get the
// defaults; Issuer and Keys are required.
type Issuer struct {
	// Issuer is the iss of ID tokens and JWT access tokens: the OP's
	// issuer identifier.
	Issuer string
	// Keys signs ID tokens and JWT access tokens. Its MaxTokenLifetime
	// must be at least IDTokenTTL, and AccessTTL too for FormatJWT.
	Keys *keys.Set
	// AccessTokenFormat is FormatOpaque or FormatJWT. Empty means
	// FormatOpaque.
	AccessTokenFormat string
	// AccessTokenAudience is the aud of access tokens (RFC 9068 §2.2):
	// the resource servers that accept them. Empty means Issuer, for the
	// userinfo endpoint is then the only resource they are good for.
	AccessTokenAudience string
	// AccessTTL is the access token lifetime. Defaults to 10 minutes.
	AccessTTL time.Duration
	// RefreshTTL is the refresh token lifetime. Defaults to 30 days.
	RefreshTTL time.Duration
	// IDTokenTTL is the ID token lifetime. Defaults to 10 minutes.
	IDTokenTTL time.Duration
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// Grant is what a token response is issued for: an approved backchannel
// request being redeemed, or a refresh token being used.
type Grant struct {
	// Client is the client the tokens are for: its ID is the ID token's
	// aud, its IDTokenSignedResponseAlg the ID token's alg (empty means
	// Keys.DefaultAlg()), and a refresh token is issued only when its
	// GrantTypes contain "refresh_token".
	Client store.Client
	// Subject is the sub of the user who approved.
	Subject string
	// Scopes are the granted scopes. An ID token is issued only when they
	// contain "openid".
	Scopes []string
	// RefreshScopes, when not nil, are the scopes of the refresh token,
	// which RFC 6749 §6 keeps those of the refresh token it replaces even
	// when the client narrowed Scopes for the access token. Nil means
	// Scopes.
	RefreshScopes []string
	// RequestID is the backchannel request the tokens come from.
	RequestID string
	// FamilyID names the grant the tokens belong to: every refresh of a
	// grant passes on its family, so that a replayed refresh token can
	// revoke them all (RFC 9700 §4.14.2). Empty starts a new family.
	FamilyID string
	// AuthTime is when the user authenticated on the device; zero omits
	// auth_time.
	AuthTime time.Time
	// ACR is the acr achieved; empty omits it.
	ACR string
	// AMR are the authentication methods used; empty omits amr.
	AMR []string
	// Claims are the user claims released by scope, put in the ID token.
	// They never override a registered or protocol claim (see Issue).
	Claims map[string]any
	// AuthReqID, set only for push mode delivery, is the auth_req_id the
	// ID token must carry (CIBA Core §10.3.1); with it the ID token also
	// carries rt_hash when a refresh token is issued.
	AuthReqID string
	// AuthorizationDetails are the granted authorization_details (RFC
	// 9396 §7): returned in the token response, recorded on every token,
	// and carried in JWT access tokens. Nil when none were requested.
	AuthorizationDetails json.RawMessage
	// Binding is what the access token is bound to, from the token
	// request's DPoP proof and client certificate; zero for a Bearer
	// token. The refresh token records it too: see Service.Refresh.
	Binding
}

// Binding is the key an access token is sender-constrained to, its cnf
// claim (RFC 7800 §3.1). Both members may be set; the token then needs
// both proofs.
type Binding struct {
	// JKT is the RFC 7638 thumbprint of the DPoP key (RFC 9449 §6.1,
	// cnf.jkt).
	JKT string
	// X5TS256 is the thumbprint of the client certificate (RFC 8705
	// §3.1, cnf.x5t#S256).
	X5TS256 string
}

// Confirmation is the cnf claim of a JWT access token and of an
// introspection response (RFC 7800 §3.1, RFC 9449 §6, RFC 8705 §3.1–3.2).
type Confirmation struct {
	JKT     string `json:"jkt,omitempty"`
	X5TS256 string `json:"x5t#S256,omitempty"`
}

// confirmation returns the cnf of b, or nil for a Bearer token.
func (b Binding) confirmation() *Confirmation {
	if b == (Binding{}) {
		return nil
	}
	return &Confirmation{JKT: b.JKT, X5TS256: b.X5TS256}
}

// tokenType is the token_type of an access token with binding b: DPoP
// for a DPoP-bound token (RFC 9449 §5, §6.2), else Bearer, certificate
// binding included (RFC 8705 §3 keeps the Bearer type).
func (b Binding) tokenType() string {
	if b.JKT != "" {
		return dpop.TokenType
	}
	return "Bearer"
}

// Response is the token endpoint's JSON success response (RFC 6749 §5.1,
// OIDC Core §3.1.3.3); in push mode it is also the body of the
// notification (CIBA Core §10.3.1).
type Response struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"` // "Bearer" (RFC 6750), or "DPoP" for a DPoP-bound token (RFC 9449 §5)
	ExpiresIn    int64  `json:"expires_in"` // seconds
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	// AuthorizationDetails (RFC 9396 §7) is present when the request had
	// authorization_details.
	AuthorizationDetails json.RawMessage `json:"authorization_details,omitempty"`
}

// reservedClaims are the claims that Grant.Claims may never set: the ID
// token claims of OIDC Core §2 and §3.1.3.6, the JWT claims of RFC 7519
// §4.1, and the CIBA and confirmation claims, so that a user attribute
// can never masquerade as protocol data.
var reservedClaims = []string{
	"iss", "sub", "aud", "exp", "iat", "nbf", "jti",
	"auth_time", "nonce", "acr", "amr", "azp", "sid",
	"at_hash", "c_hash", "s_hash", "cnf",
	ClaimAuthReqID, ClaimRTHash,
}

// Issue mints the tokens of g at Now. The access token is an opaque
// random value of 256 bits (base64url) or, with FormatJWT, a signed JWT
// (see accessJWT); the refresh token, issued when the client may use one,
// is always opaque. The returned Effects describe them hashed (store.Token
// with Hash = SHA-256 of the token string, whatever its format) in the
// family g.FamilyID or a new one, with g's AuthTime, ACR and AMR: the
// caller saves them atomically with the request's redemption or the
// refresh token's rotation, and nothing is stored before it does. When
// g.Scopes contain "openid" the response also has an ID token, signed
// with the client's id_token_signed_response_alg, which carries iss, sub,
// aud, exp, iat, auth_time, acr, amr, at_hash, the push-mode claims and
// then g.Claims.
func (i *Issuer) Issue(g Grant) (Response, store.Effects, error) {
	switch {
	case i.Issuer == "":
		return Response{}, store.Effects{}, errors.New("token: Issuer has no issuer identifier")
	case i.Keys == nil:
		return Response{}, store.Effects{}, errors.New("token: Issuer has no keys")
	case i.AccessTokenFormat != "" && i.AccessTokenFormat != FormatOpaque && i.AccessTokenFormat != FormatJWT:
		return Response{}, store.Effects{}, fmt.Errorf("token: unknown access token format %q", i.AccessTokenFormat)
	case g.Client.ID == "":
		return Response{}, store.Effects{}, errors.New("token: grant has no client")
	case g.Subject == "":
		return Response{}, store.Effects{}, errors.New("token: grant has no subject")
	}
	now := i.now().UTC()
	accessTTL := cmp.Or(i.AccessTTL, DefaultAccessTTL)
	if g.FamilyID == "" {
		g.FamilyID = store.NewID(now) // time first: its index grows at one end
	}

	var (
		access string
		err    error
	)
	if i.AccessTokenFormat == FormatJWT {
		access, err = i.accessJWT(g, now, accessTTL)
	} else {
		access, err = randomToken()
	}
	if err != nil {
		return Response{}, store.Effects{}, err
	}
	resp := Response{
		AccessToken:          access,
		TokenType:            g.tokenType(),
		ExpiresIn:            int64(accessTTL / time.Second),
		Scope:                strings.Join(g.Scopes, " "),
		AuthorizationDetails: g.AuthorizationDetails,
	}
	eff := store.Effects{Tokens: []store.Token{
		record(g, access, store.AccessToken, g.Scopes, now, accessTTL),
	}}
	if slices.Contains(g.Client.GrantTypes, oauth.GrantRefresh) {
		refresh, err := randomToken()
		if err != nil {
			return Response{}, store.Effects{}, err
		}
		resp.RefreshToken = refresh
		scopes := g.Scopes
		if g.RefreshScopes != nil {
			scopes = g.RefreshScopes
		}
		eff.Tokens = append(eff.Tokens, record(g, refresh, store.RefreshToken, scopes, now, cmp.Or(i.RefreshTTL, DefaultRefreshTTL)))
	}
	if slices.Contains(g.Scopes, ScopeOpenID) {
		resp.IDToken, err = i.idToken(g, resp, now)
		if err != nil {
			return Response{}, store.Effects{}, err
		}
	}
	return resp, eff, nil
}

// record describes token tok of kind with scopes for the store.
func record(g Grant, tok string, kind store.TokenKind, scopes []string, now time.Time, ttl time.Duration) store.Token {
	t := store.Token{
		Hash:                 Hash(tok),
		Kind:                 kind,
		ClientID:             g.Client.ID,
		Subject:              g.Subject,
		Scopes:               slices.Clone(scopes),
		RequestID:            g.RequestID,
		FamilyID:             g.FamilyID,
		ACR:                  g.ACR,
		AMR:                  slices.Clone(g.AMR),
		IssuedAt:             now,
		ExpiresAt:            now.Add(ttl),
		AuthorizationDetails: g.AuthorizationDetails,
		JKT:                  g.JKT,
		X5TS256:              g.X5TS256,
	}
	if !g.AuthTime.IsZero() {
		t.AuthTime = g.AuthTime.UTC()
	}
	return t
}

// accessJWT signs the access token of g as a JWT of RFC 9068 §2, with the
// default alg of Keys: the client's id_token_signed_response_alg is about
// what the client verifies, not what resource servers do.
func (i *Issuer) accessJWT(g Grant, now time.Time, ttl time.Duration) (string, error) {
	jti, err := randomToken()
	if err != nil {
		return "", err
	}
	// RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat and jti are
	// required; §2.2.1 adds the authentication information and §2.2.3
	// the scope.
	claims := map[string]any{
		"iss":       i.Issuer,
		"exp":       now.Add(ttl).Unix(),
		"aud":       i.audience(),
		"sub":       g.Subject,
		"client_id": g.Client.ID,
		"iat":       now.Unix(),
		"jti":       jti,
	}
	if len(g.Scopes) > 0 {
		claims["scope"] = strings.Join(g.Scopes, " ")
	}
	if !g.AuthTime.IsZero() {
		claims["auth_time"] = g.AuthTime.Unix()
	}
	if g.ACR != "" {
		claims["acr"] = g.ACR
	}
	if len(g.AMR) > 0 {
		claims["amr"] = slices.Clone(g.AMR)
	}
	if len(g.AuthorizationDetails) > 0 {
		claims["authorization_details"] = g.AuthorizationDetails // RFC 9396 §9.1
	}
	if cnf := g.confirmation(); cnf != nil {
		// RFC 9449 §6.1, RFC 8705 §3.1: a resource server checks the
		// proof of possession against cnf.
		claims["cnf"] = cnf
	}
	tok, err := i.Keys.Sign("", TypeAccessTokenJWT, claims)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return tok, nil
}

// audience returns the aud of access tokens.
func (i *Issuer) audience() string {
	return cmp.Or(i.AccessTokenAudience, i.Issuer)
}

// idToken signs the ID token of g for resp (OIDC Core §2, §3.1.3.6).
func (i *Issuer) idToken(g Grant, resp Response, now time.Time) (string, error) {
	alg := cmp.Or(g.Client.IDTokenSignedResponseAlg, i.Keys.DefaultAlg())
	claims := make(map[string]any, len(g.Claims)+12)
	for k, v := range g.Claims {
		if !slices.Contains(reservedClaims, k) {
			claims[k] = v
		}
	}
	atHash, err := HalfHash(alg, resp.AccessToken)
	if err != nil {
		return "", err
	}
	claims["iss"] = i.Issuer
	claims["sub"] = g.Subject
	claims["aud"] = g.Client.ID
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(cmp.Or(i.IDTokenTTL, DefaultIDTokenTTL)).Unix()
	// at_hash is optional outside the implicit flow (OIDC Core §3.1.3.6)
	// but always cheap, and CIBA push mode requires it (§10.3.1).
	claims["at_hash"] = atHash
	if !g.AuthTime.IsZero() {
		claims["auth_time"] = g.AuthTime.Unix()
	}
	if g.ACR != "" {
		claims["acr"] = g.ACR
	}
	if len(g.AMR) > 0 {
		claims["amr"] = slices.Clone(g.AMR)
	}
	if g.AuthReqID != "" {
		// CIBA Core §10.3.1: push mode binds the ID token to the
		// auth_req_id, and to the refresh token if one is sent.
		claims[ClaimAuthReqID] = g.AuthReqID
		if resp.RefreshToken != "" {
			rtHash, err := HalfHash(alg, resp.RefreshToken)
			if err != nil {
				return "", err
			}
			claims[ClaimRTHash] = rtHash
		}
	}
	tok, err := i.Keys.Sign(alg, "JWT", claims)
	if err != nil {
		return "", fmt.Errorf("sign ID token: %w", err)
	}
	return tok, nil
}

// randomToken returns 256 random bits, base64url encoded.
func randomToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (i *Issuer) now() time.Time {
	if i.Now != nil {
		return i.Now()
	}
	return time.Now()
}
