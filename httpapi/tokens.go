package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/backchannel/backchannel/clientauth"
	"github.com/backchannel/backchannel/dpop"
	"github.com/backchannel/backchannel/mtls"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/token"
)

// refreshGrant serves the refresh_token grant (RFC 6749 §6).
type refreshGrant struct{ svc *token.Service }

func (g refreshGrant) Exchange(ctx context.Context, req tokenRequest) (token.Response, error) {
	return g.svc.Refresh(ctx, req.Client, req.Form.Get("refresh_token"), req.Form.Get("scope"), req.Binding)
}

// handleIntrospect serves the introspection endpoint (RFC 7662 §2), which
// authenticates clients as the token endpoint does (§2.1).
func handleIntrospect(auth *clientauth.Authenticator, svc *token.Service, url string, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, client, err := authenticatedForm(w, r, auth, url)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		// token_type_hint is only a hint (RFC 7662 §2.1): the stored
		// token knows its kind.
		in, err := svc.Introspect(r.Context(), client, form.Get("token"))
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		oauth.WriteJSON(w, http.StatusOK, in)
	})
}

// handleRevoke serves the revocation endpoint (RFC 7009 §2). Success,
// including for a token that is unknown or not the client's, is a 200
// with an empty JSON object: the client ignores the body (§2.2).
func handleRevoke(auth *clientauth.Authenticator, svc *token.Service, url string, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, client, err := authenticatedForm(w, r, auth, url)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if err := svc.Revoke(r.Context(), client, form.Get("token"), form.Get("token_type_hint")); err != nil {
			writeError(w, r, log, err)
			return
		}
		log.InfoContext(r.Context(), "token revocation", "client_id", client.ID, "http_request_id", RequestID(r.Context()))
		oauth.WriteJSON(w, http.StatusOK, struct{}{})
	})
}

// handleUserInfo serves the userinfo endpoint (OIDC Core §5.3) on GET and
// POST. The access token comes as a Bearer token in the Authorization
// header (RFC 6750 §2.1) or, on POST, in the form body (§2.2); never in
// the query (§2.3, which FAPI forbids). A DPoP-bound token comes in the
// header with the DPoP scheme and a proof for this URL (RFC 9449 §7.1),
// which proofs verifies; nil proofs means the server does not do DPoP.
// A certificate-bound token must come over a connection with its
// certificate (RFC 8705 §3). Browsers may call it from any origin: the
// token is the only credential, never a cookie.
func handleUserInfo(svc *token.Service, proofs *proofChecker, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		tok, scheme, err := accessToken(w, r)
		if err != nil {
			writeResourceError(w, r, log, proofs, scheme, err)
			return
		}
		if tok == "" {
			// RFC 6750 §3.1: a request without any credentials gets a
			// challenge without error information.
			w.Header().Set("WWW-Authenticate", `Bearer realm="backchannel"`)
			if proofs != nil {
				w.Header().Add("WWW-Authenticate", dpopChallenge(proofs, ""))
			}
			writeError(w, r, log, &oauth.Error{Code: oauth.InvalidToken, Description: "an access token is required"})
			return
		}
		p := token.Presented{DPoP: scheme == dpop.TokenType}
		if p.DPoP && proofs != nil {
			if n := proofs.nonce(); n != "" {
				w.Header().Set(dpop.NonceHeader, n) // RFC 9449 §9
			}
			if p.JKT, err = proofs.verify(r, tok); err != nil {
				writeResourceError(w, r, log, proofs, scheme, err)
				return
			}
		}
		if cert := mtls.Certificate(r); cert != nil {
			p.X5TS256 = mtls.Thumbprint(cert)
		}
		claims, err := svc.UserInfo(r.Context(), tok, p)
		if err != nil {
			writeResourceError(w, r, log, proofs, scheme, err)
			return
		}
		oauth.WriteJSON(w, http.StatusOK, claims)
	})
}

// handleUserInfoPreflight answers a browser's CORS preflight for the
// userinfo endpoint, which a Bearer header always triggers.
func handleUserInfoPreflight() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP")
		h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, DPoP-Nonce")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
	})
}

// accessToken returns the access token of a userinfo request and the
// scheme it came with, "Bearer" or "DPoP", or "" when it has none. A
// token in both the header and the body is invalid_request (RFC 6750 §2:
// a client uses one method only); a token in the body is a Bearer token.
func accessToken(w http.ResponseWriter, r *http.Request) (tok, scheme string, err error) {
	var fromHeader string
	if h := r.Header.Get("Authorization"); h != "" {
		s, t, _ := strings.Cut(h, " ")
		// The auth-scheme is case-insensitive (RFC 9110 §11.1).
		for _, known := range []string{"Bearer", dpop.TokenType} {
			if strings.EqualFold(s, known) {
				scheme = known
				fromHeader = strings.TrimSpace(t)
				if fromHeader == "" {
					return "", scheme, oauth.Errorf(oauth.InvalidRequest, "the %s authorization has no token", known)
				}
			}
		}
	}
	if r.Method != http.MethodPost {
		return fromHeader, scheme, nil
	}
	// RFC 6750 §2.2: the body is read only when it is a form; a POST
	// with the token in the header may have any body or none.
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return fromHeader, scheme, nil
	}
	form, err := oauth.ParseForm(w, r)
	if err != nil {
		return "", scheme, err
	}
	if !form.Has("access_token") {
		return fromHeader, scheme, nil
	}
	if fromHeader != "" {
		return "", scheme, oauth.Errorf(oauth.InvalidRequest, "the access token must be sent in one way only")
	}
	if form.Get("access_token") == "" {
		return "", "Bearer", oauth.Errorf(oauth.InvalidRequest, "access_token is empty")
	}
	return form.Get("access_token"), "Bearer", nil
}

// writeResourceError writes err as the userinfo endpoint's error, with
// the challenge of the scheme the token came with: a DPoP challenge
// (RFC 9449 §7.1) for "DPoP", else a Bearer one (RFC 6750 §3). A refused
// DPoP proof is 401 here, not the token endpoint's 400 (§7.1), and
// use_dpop_nonce comes with a fresh nonce (§9). With DPoP enabled, a
// Bearer challenge for invalid_token is followed by a DPoP one, so that
// a client holding a DPoP-bound token learns how to present it (§7.2).
func writeResourceError(w http.ResponseWriter, r *http.Request, log *slog.Logger, proofs *proofChecker, scheme string, err error) {
	if scheme != dpop.TokenType || proofs == nil {
		writeBearerError(w, r, log, err, func() {
			if proofs != nil {
				w.Header().Add("WWW-Authenticate", dpopChallenge(proofs, ""))
			}
		})
		return
	}
	var oe *oauth.Error
	if errors.As(err, &oe) {
		switch oe.Code {
		case dpop.InvalidProof, dpop.UseNonce:
			oe.Status = http.StatusUnauthorized
			fallthrough
		case oauth.InvalidToken, oauth.InvalidRequest, oauth.InsufficientScope:
			c := dpopChallenge(proofs, `error="`+string(oe.Code)+`"`)
			if oe.Description != "" {
				c += `, error_description="` + quoteEscape(oe.Description) + `"`
			}
			if oe.Code == oauth.InsufficientScope {
				c += `, scope="` + token.ScopeOpenID + `"`
			}
			w.Header().Set("WWW-Authenticate", c)
		}
		if n := proofs.nonce(); oe.Code == dpop.UseNonce && n != "" {
			w.Header().Set(dpop.NonceHeader, n)
		}
	}
	writeError(w, r, log, err)
}

// dpopChallenge returns a DPoP challenge (RFC 9449 §7.1) with params
// (may be empty) and the algs proofs accepts.
func dpopChallenge(proofs *proofChecker, params string) string {
	c := "DPoP "
	if params != "" {
		c += params + ", "
	}
	return c + `algs="` + strings.Join(proofs.v.AcceptedAlgs(), " ") + `"`
}

// writeBearerError writes err as a protected resource's error (RFC 6750
// §3): with a WWW-Authenticate challenge that repeats the error code,
// and, for insufficient_scope, the scope needed.
// more, if not nil, adds challenges after the Bearer one.
func writeBearerError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, more func()) {
	var oe *oauth.Error
	if errors.As(err, &oe) {
		switch oe.Code {
		case oauth.InvalidToken, oauth.InvalidRequest, oauth.InsufficientScope:
			c := `Bearer error="` + string(oe.Code) + `"`
			if oe.Description != "" {
				c += `, error_description="` + quoteEscape(oe.Description) + `"`
			}
			if oe.Code == oauth.InsufficientScope {
				c += `, scope="` + token.ScopeOpenID + `"`
			}
			w.Header().Set("WWW-Authenticate", c)
			if more != nil && oe.Code == oauth.InvalidToken {
				more()
			}
		}
	}
	writeError(w, r, log, err)
}

// quoteEscape escapes s for an HTTP quoted-string (RFC 9110 §5.6.4).
func quoteEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
