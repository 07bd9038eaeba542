package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/backchannel/backchannel/clientauth"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/token"
)

// refreshGrant serves the refresh_token grant (RFC 6749 §6).
type refreshGrant struct{ svc *token.Service }

func (g refreshGrant) Exchange(ctx context.Context, client store.Client, form oauth.Form) (token.Response, error) {
	return g.svc.Refresh(ctx, client, form.Get("refresh_token"), form.Get("scope"))
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
// the query (§2.3, which FAPI forbids). Browsers may call it from any
// origin: the token is the only credential, never a cookie.
func handleUserInfo(svc *token.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		tok, err := bearerToken(w, r)
		if err != nil {
			writeBearerError(w, r, log, err)
			return
		}
		if tok == "" {
			// RFC 6750 §3.1: a request without any credentials gets a
			// challenge without error information.
			w.Header().Set("WWW-Authenticate", `Bearer realm="backchannel"`)
			writeError(w, r, log, &oauth.Error{Code: oauth.InvalidToken, Description: "an access token is required"})
			return
		}
		claims, err := svc.UserInfo(r.Context(), tok)
		if err != nil {
			writeBearerError(w, r, log, err)
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
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
	})
}

// bearerToken returns the access token of a userinfo request, or "" when
// it has none. A token in both the header and the body is invalid_request
// (RFC 6750 §2: a client uses one method only).
func bearerToken(w http.ResponseWriter, r *http.Request) (string, error) {
	var fromHeader string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		// The auth-scheme is case-insensitive (RFC 9110 §11.1).
		if strings.EqualFold(scheme, "Bearer") {
			fromHeader = strings.TrimSpace(tok)
			if fromHeader == "" {
				return "", oauth.Errorf(oauth.InvalidRequest, "the Bearer authorization has no token")
			}
		}
	}
	if r.Method != http.MethodPost {
		return fromHeader, nil
	}
	// RFC 6750 §2.2: the body is read only when it is a form; a POST
	// with the token in the header may have any body or none.
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return fromHeader, nil
	}
	form, err := oauth.ParseForm(w, r)
	if err != nil {
		return "", err
	}
	if !form.Has("access_token") {
		return fromHeader, nil
	}
	if fromHeader != "" {
		return "", oauth.Errorf(oauth.InvalidRequest, "the access token must be sent in one way only")
	}
	if form.Get("access_token") == "" {
		return "", oauth.Errorf(oauth.InvalidRequest, "access_token is empty")
	}
	return form.Get("access_token"), nil
}

// writeBearerError writes err as a protected resource's error (RFC 6750
// §3): with a WWW-Authenticate challenge that repeats the error code,
// and, for insufficient_scope, the scope needed.
func writeBearerError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
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
		}
	}
	writeError(w, r, log, err)
}

// quoteEscape escapes s for an HTTP quoted-string (RFC 9110 §5.6.4).
func quoteEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
