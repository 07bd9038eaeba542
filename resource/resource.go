package resource

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/backchannel/backchannel/dpop"
	"github.com/backchannel/backchannel/mtls"
	"github.com/backchannel/backchannel/oauth"
)

// A Validator validates the access token of a request to a protected
// resource. Issuer is the Validator for backchannel's tokens; tests and
// other token sources may bring their own.
type Validator interface {
	// Validate returns the request's valid access token, or an error:
	// an *Error for a request to refuse, anything else for a failure to
	// decide (the OP unreachable, say).
	Validate(r *http.Request) (*Token, error)
}

// Token is a validated access token.
type Token struct {
	Subject  string
	ClientID string
	Scopes   []string
	// ExpiresAt is the token's exp; zero if it has none.
	ExpiresAt time.Time
	// JKT and X5TS256 are the token's binding (cnf.jkt, RFC 9449 §6;
	// cnf.x5t#S256, RFC 8705 §3.1), which the request has proven; empty
	// for a Bearer token.
	JKT     string
	X5TS256 string
	// Claims are all the token's claims: the payload of a JWT access
	// token, or the introspection response of an opaque one.
	Claims map[string]any
}

// HasScope reports whether the token was granted scope.
func (t *Token) HasScope(scope string) bool { return slices.Contains(t.Scopes, scope) }

type ctxKey struct{}

// FromContext returns the token that Middleware validated for the
// request whose context is ctx.
func FromContext(ctx context.Context) (*Token, bool) {
	t, ok := ctx.Value(ctxKey{}).(*Token)
	return t, ok
}

// Error is a refused request: the status, error code and challenges a
// protected resource answers with (RFC 6750 §3, RFC 9449 §7.1).
type Error struct {
	// Code is the error code; empty for a request without any
	// credentials, whose challenge carries no error (RFC 6750 §3.1).
	Code        oauth.Code
	Description string
	// Status is the HTTP status: 401, or 403 for insufficient_scope.
	Status int
	// Challenges are the WWW-Authenticate values, one per scheme.
	Challenges []string
	// Nonce, when set, goes in the DPoP-Nonce header (RFC 9449 §9).
	Nonce string
	// Cause is for logs only.
	Cause error
}

func (e *Error) Error() string {
	s := "resource: " + string(e.Code)
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Cause }

// Middleware returns middleware that lets a request through to the
// handler only with a valid access token, which the handler finds with
// FromContext. A refused request gets the *Error's status, challenges
// and JSON error body; a failure to decide gets 503
// temporarily_unavailable, since the request may well be valid.
func Middleware(v Validator) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, err := v.Validate(r)
			if err != nil {
				writeError(w, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, tok)))
		})
	}
}

func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		oauth.WriteError(w, &oauth.Error{Code: oauth.TemporarilyUnavailable, Description: "the access token could not be checked"})
		return
	}
	for _, c := range e.Challenges {
		w.Header().Add("WWW-Authenticate", c)
	}
	if e.Nonce != "" {
		w.Header().Set(dpop.NonceHeader, e.Nonce)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusUnauthorized
	}
	if e.Code == "" {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		return
	}
	oauth.WriteError(w, &oauth.Error{Code: e.Code, Description: e.Description, Status: status})
}

// presentation is how a request carries its access token.
type presentation struct {
	scheme string // "Bearer" or "DPoP"
	token  string
}

// credentials returns the access token of r's Authorization header
// (RFC 6750 §2.1, RFC 9449 §7.1). Tokens in a form body or the query are
// not looked at: an API's body is its own.
func credentials(r *http.Request) (presentation, bool) {
	h := r.Header.Get("Authorization")
	s, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	for _, known := range []string{"Bearer", dpop.TokenType} {
		// The auth-scheme is case-insensitive (RFC 9110 §11.1).
		if strings.EqualFold(s, known) && tok != "" {
			return presentation{scheme: known, token: tok}, true
		}
	}
	return presentation{}, false
}

// checkBinding enforces the binding of t on request r that presented
// the token as p: a DPoP-bound token needs the DPoP scheme and a proof by
// its key whose ath is the token's (RFC 9449 §7.1; as a Bearer token it
// is refused, §7.2); a Bearer token must not come with the DPoP scheme;
// a certificate-bound token needs its certificate on the connection
// (RFC 8705 §3). It returns the DPoP proof's error as it is, and
// invalid_token for a binding the request does not meet.
func checkBinding(r *http.Request, p presentation, t *Token, proofs *dpop.Verifier, htu string) error {
	switch {
	case t.JKT != "" && p.scheme != dpop.TokenType:
		return oauth.Errorf(oauth.InvalidToken, "the access token is DPoP-bound and must be sent with the DPoP scheme and a proof")
	case t.JKT == "" && p.scheme == dpop.TokenType:
		return oauth.Errorf(oauth.InvalidToken, "the access token is not DPoP-bound; send it as a Bearer token")
	case t.JKT != "":
		if proofs == nil {
			return oauth.Errorf(oauth.InvalidToken, "this resource does not accept DPoP-bound access tokens")
		}
		jkt, err := proofs.Verify(r, htu, p.token)
		if err != nil {
			return err
		}
		if jkt != t.JKT {
			return oauth.Errorf(oauth.InvalidToken, "the DPoP proof's key is not the key the access token is bound to")
		}
	}
	if t.X5TS256 != "" {
		cert := mtls.Certificate(r)
		if cert == nil || mtls.Thumbprint(cert) != t.X5TS256 {
			return oauth.Errorf(oauth.InvalidToken, "the access token is bound to a client certificate that this connection did not present")
		}
	}
	return nil
}
