package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/clientauth"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/token"
)

// handleBackchannelAuth serves the backchannel authentication endpoint
// (CIBA Core §7): httpapi parses and authenticates, ciba decides.
func handleBackchannelAuth(auth *clientauth.Authenticator, svc *ciba.Service, url string, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, client, err := authenticatedForm(w, r, auth, url)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		started, err := svc.Start(r.Context(), client, form)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		log.InfoContext(r.Context(), "backchannel request started", "client_id", client.ID, "http_request_id", RequestID(r.Context()))
		oauth.WriteJSON(w, http.StatusOK, started)
	})
}

// authenticatedForm parses an OAuth endpoint's form body and
// authenticates the client, the first steps of every client endpoint.
func authenticatedForm(w http.ResponseWriter, r *http.Request, auth *clientauth.Authenticator, url string) (oauth.Form, store.Client, error) {
	form, err := oauth.ParseForm(w, r)
	if err != nil {
		return nil, store.Client{}, err
	}
	client, err := auth.Authenticate(r, form, url)
	if err != nil {
		return nil, store.Client{}, err
	}
	return form, client, nil
}

// A grant serves one grant_type at the token endpoint. The endpoint has
// already parsed the form and authenticated the client.
type grant interface {
	Exchange(ctx context.Context, client store.Client, form oauth.Form) (token.Response, error)
}

func grants(d Deps) map[string]grant {
	g := map[string]grant{
		oauth.GrantCIBA: cibaGrant{d.CIBA},
	}
	if d.Tokens != nil {
		g[oauth.GrantRefresh] = refreshGrant{d.Tokens}
	}
	return g
}

type cibaGrant struct{ svc *ciba.Service }

func (g cibaGrant) Exchange(ctx context.Context, client store.Client, form oauth.Form) (token.Response, error) {
	return g.svc.Redeem(ctx, client, form.Get("auth_req_id"))
}

// handleToken serves the token endpoint (RFC 6749 §3.2), dispatching on
// grant_type. Shared steps live here, so no grant can skip one.
func handleToken(auth *clientauth.Authenticator, grants map[string]grant, url string, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, client, err := authenticatedForm(w, r, auth, url)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		gt := form.Get("grant_type")
		if gt == "" {
			writeError(w, r, log, oauth.Errorf(oauth.InvalidRequest, "grant_type is required"))
			return
		}
		g, ok := grants[gt]
		if !ok {
			writeError(w, r, log, oauth.Errorf(oauth.UnsupportedGrantType, "grant_type %q is not supported", truncate(gt, 80)))
			return
		}
		resp, err := g.Exchange(r.Context(), client, form)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		noteTokens(r, gt)
		log.InfoContext(r.Context(), "tokens issued", "client_id", client.ID, "grant_type", gt, "http_request_id", RequestID(r.Context()))
		oauth.WriteJSON(w, http.StatusOK, resp)
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
