package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/clientauth"
	"github.com/backchannel/backchannel/dpop"
	"github.com/backchannel/backchannel/mtls"
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
// already parsed the form, authenticated the client and checked the
// client's DPoP proof or certificate.
type grant interface {
	Exchange(ctx context.Context, req tokenRequest) (token.Response, error)
}

// tokenRequest is a token request as the endpoint accepted it.
type tokenRequest struct {
	Client store.Client
	Form   oauth.Form
	// Binding is what the access token will be bound to: the key of the
	// request's DPoP proof and the client certificate, where they apply.
	Binding token.Binding
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

func (g cibaGrant) Exchange(ctx context.Context, req tokenRequest) (token.Response, error) {
	return g.svc.Redeem(ctx, req.Client, req.Form.Get("auth_req_id"), req.Binding)
}

// proofChecker verifies the DPoP proofs (RFC 9449) of one endpoint. A nil
// *proofChecker is a server without DPoP.
type proofChecker struct {
	v *dpop.Verifier
	// urls are the endpoint's URLs, the htu values a proof may name: at
	// the issuer and, with a mutual TLS listener of its own, the RFC 8705
	// §5 alias.
	urls []string
}

// newProofChecker returns the proofChecker of the endpoint at path, or
// nil when d.DPoP is nil.
func newProofChecker(d Deps, path string) *proofChecker {
	if d.DPoP == nil {
		return nil
	}
	p := &proofChecker{v: d.DPoP, urls: []string{endpoint(d.Issuer, path)}}
	if d.MTLSBaseURL != "" {
		p.urls = append(p.urls, endpoint(d.MTLSBaseURL, path))
	}
	return p
}

// verify checks r's proof (dpop.Verifier.Verify) against the URL of the
// endpoint at the host r was sent to: the Host header only chooses among
// the configured URLs, never adds one.
func (p *proofChecker) verify(r *http.Request, accessToken string) (string, error) {
	htu := p.urls[0]
	for _, u := range p.urls[1:] {
		if parsed, err := url.Parse(u); err == nil && strings.EqualFold(parsed.Host, r.Host) {
			htu = u
		}
	}
	return p.v.Verify(r, htu, accessToken)
}

// nonce returns the nonce for the DPoP-Nonce header, or "".
func (p *proofChecker) nonce() string {
	if p == nil {
		return ""
	}
	return p.v.Nonce()
}

// handleToken serves the token endpoint (RFC 6749 §3.2), dispatching on
// grant_type. Shared steps live here, so no grant can skip one. proofs
// verifies DPoP proofs; nil means the server does not do DPoP.
func handleToken(auth *clientauth.Authenticator, grants map[string]grant, proofs *proofChecker, url string, log *slog.Logger) http.Handler {
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
			writeError(w, r, log, oauth.Errorf(oauth.UnsupportedGrantType, "grant_type %q is not supported", oauth.Truncate(gt, 80)))
			return
		}
		if r.Header.Get(dpop.Header) != "" {
			// RFC 9449 §8.2: a fresh nonce may come with any answer to
			// a DPoP request, and must come with use_dpop_nonce.
			if n := proofs.nonce(); n != "" {
				w.Header().Set(dpop.NonceHeader, n)
			}
		}
		bind, err := tokenBinding(r, client, proofs)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		resp, err := g.Exchange(r.Context(), tokenRequest{Client: client, Form: form, Binding: bind})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		noteTokens(r, gt)
		log.InfoContext(r.Context(), "tokens issued", "client_id", client.ID, "grant_type", gt, "token_type", resp.TokenType, "http_request_id", RequestID(r.Context()))
		oauth.WriteJSON(w, http.StatusOK, resp)
	})
}

// tokenBinding returns what the tokens of token request r of client c
// are bound to.
//
// DPoP (RFC 9449 §5): a request with a DPoP header must carry a valid
// proof for this endpoint, else invalid_dpop_proof (400); its key
// binds the tokens. A client registered with dpop_bound_access_tokens
// must send one (§5.2). §5.2 requires the refusal without naming a code;
// we answer invalid_dpop_proof, the code §5 gives to a DPoP header that
// does not hold a valid proof, since an absent proof is no valid one and
// the code tells the client which mechanism it failed.
//
// Certificates (RFC 8705 §3): a client registered with
// tls_client_certificate_bound_access_tokens, and every FAPI-CIBA client
// (FAPI 1.0 Advanced §5.2.2-5: sender-constrained tokens, and mTLS is the
// method FAPI-CIBA names), gets tokens bound to the certificate of the
// connection. §3.4 leaves a request without one to the server; we refuse
// it (invalid_request), as a Bearer token is not what the client asked
// for.
func tokenBinding(r *http.Request, c store.Client, proofs *proofChecker) (token.Binding, error) {
	var b token.Binding
	if r.Header.Get(dpop.Header) != "" || c.DPoPBoundAccessTokens {
		if proofs == nil {
			if c.DPoPBoundAccessTokens {
				return b, oauth.Errorf(dpop.InvalidProof, "this server does not accept DPoP proofs")
			}
			// RFC 9449 §5: a server without DPoP ignores the header
			// and issues Bearer tokens, which token_type says.
		} else {
			jkt, err := proofs.verify(r, "")
			if err != nil {
				return b, err
			}
			b.JKT = jkt
		}
	}
	if c.CertificateBoundAccessTokens || c.Profile == ciba.ProfileFAPI {
		cert := mtls.Certificate(r)
		if cert == nil {
			return b, oauth.Errorf(oauth.InvalidRequest, "a client certificate is required for certificate-bound tokens")
		}
		b.X5TS256 = mtls.Thumbprint(cert)
	}
	return b, nil
}
