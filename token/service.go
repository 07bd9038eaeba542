package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/backchannel/backchannel/dpop"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// Service runs the life of issued tokens after the grant that issued
// them: refresh with rotation (RFC 6749 §6), introspection (RFC 7662),
// revocation (RFC 7009) and the userinfo endpoint (OIDC Core §5.3). Store
// and Issuer are required.
type Service struct {
	Store store.Store
	// Issuer mints the tokens of a refresh, and names the iss and aud
	// that introspection reports.
	Issuer *Issuer
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// ResourceServers are the IDs of the clients that are resource
	// servers: they may introspect every access token, not only their
	// own (RFC 7662 §4 leaves to the server who may learn what about a
	// token). Empty means none.
	ResourceServers []string
}

// Introspection is the introspection endpoint's response (RFC 7662
// §2.2). An inactive token gets Active false and nothing else, so the
// endpoint says nothing about tokens that are not, or no longer, the
// caller's.
type Introspection struct {
	Active   bool   `json:"active"`
	Scope    string `json:"scope,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	Subject  string `json:"sub,omitempty"`
	// TokenType is "Bearer" for access tokens and absent for refresh
	// tokens: RFC 7662 §2.2 defines it as a token type of RFC 6749 §5.1
	// (an access token type, registered under RFC 6749 §11.1), and a
	// refresh token has none; "refresh_token" is a token_type_hint
	// (RFC 7009 §4.1.2), a different registry.
	TokenType string `json:"token_type,omitempty"`
	ExpiresAt int64  `json:"exp,omitempty"` // seconds since the epoch
	IssuedAt  int64  `json:"iat,omitempty"` // seconds since the epoch
	Issuer    string `json:"iss,omitempty"`
	// Audience is the aud of access tokens (Issuer.AccessTokenAudience);
	// a refresh token is meant only for this server and has none.
	Audience string `json:"aud,omitempty"`
	AuthTime int64  `json:"auth_time,omitempty"` // seconds since the epoch
	ACR      string `json:"acr,omitempty"`
	// AuthorizationDetails (RFC 9396 §9.2) are the token's granted details.
	AuthorizationDetails json.RawMessage `json:"authorization_details,omitempty"`
	// Confirmation is the cnf of a sender-constrained access token: the
	// DPoP key's thumbprint (RFC 9449 §6.2) or the certificate's (RFC
	// 8705 §3.2), which a resource server checks the request against.
	// TokenType is then "DPoP" for a DPoP-bound token.
	Confirmation *Confirmation `json:"cnf,omitempty"`
}

// Refresh exchanges refreshToken of client c for new tokens (RFC 6749
// §6), with rotation: the refresh token is used up and a new one, in the
// same family, replaces it. scope, when not empty, narrows the access
// token to a subset of the refresh token's scopes; the new refresh token
// keeps them all. With "openid" in the granted scopes the response has an
// ID token with the original sub and auth_time (OIDC Core §12.2) and the
// user's claims as they are now.
//
// b is the binding of the refresh request: the key of its DPoP proof and
// the client certificate, as the token endpoint found them. The new
// access token is bound to b. RFC 9449 §5 and RFC 8705 §7.1 do not bind
// the refresh tokens of confidential clients to a key, as client
// authentication already constrains them to their sender: such a client
// may refresh with a new DPoP key or certificate. Its tokens never fall
// back to Bearer, though: a family issued with DPoP needs a DPoP proof
// on every refresh (invalid_dpop_proof without one). The refresh tokens
// of public clients (token_endpoint_auth_method "none") are bound to the
// key (RFC 9449 §5) or certificate (RFC 8705 §4) they were issued with,
// and another one is invalid_grant.
//
// A refresh token presented again after its rotation is a replay: one of
// the two parties holding it is not the client, and which one cannot be
// told, so every token of its family is revoked (RFC 6819 §5.2.2.3,
// RFC 9700 §4.14.2) and the answer is invalid_grant. Of two concurrent
// refreshes of one token, one wins and the other is a replay.
func (s *Service) Refresh(ctx context.Context, c store.Client, refreshToken, scope string, b Binding) (Response, error) {
	if !slices.Contains(c.GrantTypes, oauth.GrantRefresh) {
		return Response{}, oauth.Errorf(oauth.UnauthorizedClient, "the client is not registered for the refresh_token grant")
	}
	if refreshToken == "" {
		return Response{}, oauth.Errorf(oauth.InvalidRequest, "refresh_token is required")
	}
	unknown := oauth.Errorf(oauth.InvalidGrant, "the refresh token is unknown, expired or revoked")
	hash := Hash(refreshToken)
	t, err := s.Store.Token(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return Response{}, unknown
	}
	if err != nil {
		return Response{}, fmt.Errorf("load refresh token: %w", err)
	}
	// Another client's token gets the answer of an unknown one (RFC 6749
	// §6: the refresh token must have been issued to the client), and
	// is not counted as a replay: that client could otherwise revoke a
	// grant that is not its own.
	if t.Kind != store.RefreshToken || t.ClientID != c.ID {
		return Response{}, unknown
	}
	if err := checkRefreshBinding(c, t, b); err != nil {
		return Response{}, err
	}
	scopes := t.Scopes
	if scope != "" {
		if scopes, err = narrow(t.Scopes, scope); err != nil {
			return Response{}, err
		}
	}
	user, err := s.Store.User(ctx, t.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return Response{}, oauth.Errorf(oauth.InvalidGrant, "the user no longer exists")
	}
	if err != nil {
		return Response{}, fmt.Errorf("load user: %w", err)
	}

	now := s.now()
	var (
		resp   Response
		replay bool
	)
	_, err = s.Store.UpdateToken(ctx, hash, func(t *store.Token) (store.Effects, error) {
		resp, replay = Response{}, false
		switch {
		case !t.RevokedAt.IsZero() || !now.Before(t.ExpiresAt):
			return store.Effects{}, unknown
		case !t.UsedAt.IsZero():
			replay = true
			return store.Effects{}, unknown
		}
		r, eff, err := s.Issuer.Issue(Grant{
			Client:        c,
			Subject:       t.Subject,
			Scopes:        scopes,
			RefreshScopes: t.Scopes,
			RequestID:     t.RequestID,
			FamilyID:      t.FamilyID,
			AuthTime:      t.AuthTime,
			ACR:           t.ACR,
			AMR:           t.AMR,
			Claims:        ReleasedClaims(user, scopes),
			Binding:       b,
		})
		if err != nil {
			return store.Effects{}, fmt.Errorf("issue tokens: %w", err)
		}
		resp = r
		t.UsedAt = now
		return eff, nil
	})
	switch {
	case replay:
		if t.FamilyID != "" {
			if err := s.Store.RevokeFamily(ctx, t.FamilyID, now); err != nil {
				return Response{}, fmt.Errorf("revoke token family after a refresh token replay: %w", err)
			}
		}
		return Response{}, oauth.Errorf(oauth.InvalidGrant, "the refresh token was already used").
			WithCause(errors.New("refresh token replayed: its family is revoked"))
	case errors.Is(err, store.ErrNotFound):
		return Response{}, unknown
	case err != nil:
		return Response{}, err
	}
	return resp, nil
}

// checkRefreshBinding applies the rules of Refresh to refresh token t of
// client c presented with binding b.
func checkRefreshBinding(c store.Client, t store.Token, b Binding) error {
	if t.JKT != "" && b.JKT == "" {
		return oauth.Errorf(dpop.InvalidProof, "a DPoP proof is required to refresh DPoP-bound tokens")
	}
	if c.TokenEndpointAuthMethod != oauth.AuthNone {
		return nil
	}
	if t.JKT != "" && b.JKT != t.JKT {
		return oauth.Errorf(oauth.InvalidGrant, "the refresh token is bound to another DPoP key")
	}
	if t.X5TS256 != "" && b.X5TS256 != t.X5TS256 {
		return oauth.Errorf(oauth.InvalidGrant, "the refresh token is bound to another client certificate")
	}
	return nil
}

// narrow returns the scopes of the space-delimited list scope (RFC 6749
// §3.3), which must all be among granted (RFC 6749 §6), without
// repetitions.
func narrow(granted []string, scope string) ([]string, error) {
	var out []string
	for _, sc := range strings.Fields(scope) {
		if !slices.Contains(granted, sc) {
			return nil, oauth.Errorf(oauth.InvalidScope, "scope %q was not granted to the refresh token", oauth.Truncate(sc, 64))
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return granted, nil
	}
	return out, nil
}

// Introspect describes token tok to client c (RFC 7662 §2). Only c's own
// tokens are described, and, to the ResourceServers, every access token:
// an unknown, expired, revoked or used-up token, a token of a user who no
// longer exists, and another client's token are all just inactive (RFC
// 7662 §2.2, §4), the last because the caller has not shown that it may
// learn about it. A sender-constrained access token's description has its
// cnf (RFC 9449 §6.2, RFC 8705 §3.2).
func (s *Service) Introspect(ctx context.Context, c store.Client, tok string) (Introspection, error) {
	if tok == "" {
		return Introspection{}, oauth.Errorf(oauth.InvalidRequest, "token is required")
	}
	t, err := s.Store.Token(ctx, Hash(tok))
	if errors.Is(err, store.ErrNotFound) {
		return Introspection{}, nil
	}
	if err != nil {
		return Introspection{}, fmt.Errorf("load token: %w", err)
	}
	mayKnow := t.ClientID == c.ID || (t.Kind == store.AccessToken && slices.Contains(s.ResourceServers, c.ID))
	if !mayKnow || !s.active(t) {
		return Introspection{}, nil
	}
	if _, err := s.Store.User(ctx, t.Subject); errors.Is(err, store.ErrNotFound) {
		return Introspection{}, nil
	} else if err != nil {
		return Introspection{}, fmt.Errorf("load user: %w", err)
	}
	in := Introspection{
		Active:               true,
		Scope:                strings.Join(t.Scopes, " "),
		ClientID:             t.ClientID,
		Subject:              t.Subject,
		ExpiresAt:            t.ExpiresAt.Unix(),
		IssuedAt:             t.IssuedAt.Unix(),
		Issuer:               s.Issuer.Issuer,
		ACR:                  t.ACR,
		AuthorizationDetails: t.AuthorizationDetails,
	}
	if t.Kind == store.AccessToken {
		b := Binding{JKT: t.JKT, X5TS256: t.X5TS256}
		in.TokenType = b.tokenType()
		in.Audience = s.Issuer.audience()
		in.Confirmation = b.confirmation()
	}
	if !t.AuthTime.IsZero() {
		in.AuthTime = t.AuthTime.Unix()
	}
	return in, nil
}

// Revoke revokes token tok of client c (RFC 7009 §2.1). A refresh token
// takes its whole family with it, every access and refresh token of the
// grant, as RFC 7009 §2.1 recommends; an access token goes alone. An
// unknown, already invalid or another client's token is not an error, and
// nothing happens to it: RFC 7009 §2.2 answers an invalid token with
// success, and §2.1 requires the token to be the client's, which the
// answer must not reveal. hint (token_type_hint) is ignored, whatever its
// value: the stored token knows its kind, and §2.1 lets a server ignore
// the hint.
func (s *Service) Revoke(ctx context.Context, c store.Client, tok, hint string) error {
	if tok == "" {
		return oauth.Errorf(oauth.InvalidRequest, "token is required")
	}
	hash := Hash(tok)
	t, err := s.Store.Token(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load token: %w", err)
	}
	if t.ClientID != c.ID {
		return nil
	}
	now := s.now()
	if t.Kind == store.RefreshToken && t.FamilyID != "" {
		if err := s.Store.RevokeFamily(ctx, t.FamilyID, now); err != nil {
			return fmt.Errorf("revoke token family: %w", err)
		}
		return nil
	}
	_, err = s.Store.UpdateToken(ctx, hash, func(t *store.Token) (store.Effects, error) {
		if t.RevokedAt.IsZero() {
			t.RevokedAt = now
		}
		return store.Effects{}, nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// Presented is how a request presented an access token to a protected
// resource, as the resource's handler verified it.
type Presented struct {
	// DPoP reports whether the token came with the DPoP authorization
	// scheme (RFC 9449 §7.1) rather than Bearer.
	DPoP bool
	// JKT is the thumbprint of the key of the request's verified DPoP
	// proof, whose ath matched the token; "" without a proof.
	JKT string
	// X5TS256 is the thumbprint of the request's client certificate
	// (mtls.Thumbprint); "" without one.
	X5TS256 string
}

// check reports, as an invalid_token error (401), how p fails the
// binding of access token t: a DPoP-bound token must come with the DPoP
// scheme and a proof by its key (RFC 9449 §7.1, §7.2: never as a Bearer
// token), a Bearer token not with the DPoP scheme, and a
// certificate-bound token over a connection with its certificate (RFC
// 8705 §3).
func (p Presented) check(t store.Token) error {
	bad := func(desc string) error {
		return &oauth.Error{Code: oauth.InvalidToken, Description: desc, Status: http.StatusUnauthorized}
	}
	switch {
	case t.JKT != "" && !p.DPoP:
		return bad("the access token is DPoP-bound and must be sent with the DPoP scheme and a proof")
	case t.JKT != "" && p.JKT != t.JKT:
		return bad("the DPoP proof's key is not the key the access token is bound to")
	case t.JKT == "" && p.DPoP:
		return bad("the access token is not DPoP-bound; send it as a Bearer token")
	case t.X5TS256 != "" && p.X5TS256 != t.X5TS256:
		return bad("the access token is bound to a client certificate that this connection did not present")
	}
	return nil
}

// UserInfo returns the claims of the userinfo endpoint (OIDC Core §5.3.2)
// for accessToken, presented as p: sub and the current user's claims
// that the token's scopes release (OIDC Core §5.4). A token that is not
// an active access token, whose user no longer exists, or whose binding p
// does not satisfy (see Presented) is invalid_token (401); one without
// the openid scope is insufficient_scope (403), as OIDC Core §5.3.1 makes
// openid the scope that grants userinfo (RFC 6750 §3.1).
func (s *Service) UserInfo(ctx context.Context, accessToken string, p Presented) (map[string]any, error) {
	invalid := &oauth.Error{Code: oauth.InvalidToken, Description: "the access token is unknown, expired or revoked", Status: http.StatusUnauthorized}
	if accessToken == "" {
		return nil, invalid
	}
	t, err := s.Store.Token(ctx, Hash(accessToken))
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, fmt.Errorf("load access token: %w", err)
	}
	if t.Kind != store.AccessToken || !s.active(t) {
		return nil, invalid
	}
	if err := p.check(t); err != nil {
		return nil, err
	}
	if !slices.Contains(t.Scopes, ScopeOpenID) {
		return nil, &oauth.Error{Code: oauth.InsufficientScope, Description: "the access token was not granted the openid scope", Status: http.StatusForbidden}
	}
	user, err := s.Store.User(ctx, t.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	claims := ReleasedClaims(user, t.Scopes)
	claims["sub"] = t.Subject
	return claims, nil
}

// active reports whether t can still be used: not revoked, not expired
// and, for a refresh token, not yet rotated.
func (s *Service) active(t store.Token) bool {
	return t.RevokedAt.IsZero() && t.UsedAt.IsZero() && s.now().Before(t.ExpiresAt)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}
