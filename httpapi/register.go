package httpapi

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/backchannel/backchannel/clientauth"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/registration"
	"github.com/backchannel/backchannel/store"
)

// DynamicRegistration configures the dynamic client registration endpoint
// (RFC 7591) and the client configuration endpoint (RFC 7592). The
// metadata rules are Deps.Registration, shared with the admin API.
type DynamicRegistration struct {
	// Open admits registrations without an initial access token.
	Open bool
	// InitialAccessTokens admit a registration when Open is false: the
	// request must bear one of them (RFC 7591 §3, RFC 6750 §2.1).
	InitialAccessTokens []string
}

// maxRegistrationBody bounds a registration request: room for an inline
// JWK Set of a few RSA keys and a software statement.
const maxRegistrationBody = 64 << 10

// registrationRealm names the protection space of registration tokens in
// WWW-Authenticate challenges (RFC 6750 §3).
const registrationRealm = "backchannel-registration"

// registrationResponse is a client information response (RFC 7591
// §3.2.1) with the management members of RFC 7592 §3.
type registrationResponse struct {
	registration.Metadata
	SoftwareStatement       string `json:"software_statement,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri"`
}

// registrar serves /register and /register/{client_id}.
type registrar struct {
	store  store.Store
	policy registration.Policy
	// initial holds the SHA-256 digests of the initial access tokens.
	initial [][sha256.Size]byte
	open    bool
	issuer  string
	now     func() time.Time
	log     *slog.Logger
}

func newRegistrar(d Deps) *registrar {
	r := &registrar{
		store:  d.Store,
		policy: d.Registration,
		open:   d.DynamicRegistration.Open,
		issuer: d.Issuer,
		now:    d.now,
		log:    d.Log,
	}
	for _, t := range d.DynamicRegistration.InitialAccessTokens {
		r.initial = append(r.initial, sha256.Sum256([]byte(t)))
	}
	return r
}

func (rg *registrar) clientURI(id string) string {
	return endpoint(rg.issuer, "/register/"+url.PathEscape(id))
}

// bearer returns the Bearer token of r (RFC 6750 §2.1), or "".
func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// tokenError is the 401 of RFC 6750 §3.1 for a missing or wrong
// initial or registration access token. A request without a token gets
// the challenge without an error attribute (RFC 6750 §3.1).
func (rg *registrar) tokenError(w http.ResponseWriter, r *http.Request, presented bool, desc string) {
	challenge := `Bearer realm="` + registrationRealm + `"`
	if presented {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, r, rg.log, oauth.Errorf(oauth.InvalidToken, "%s", desc))
}

// initialTokenOK reports whether r bears a configured initial access
// token. Every configured digest is compared, in constant time, so the
// time taken says nothing about which token came close.
func (rg *registrar) initialTokenOK(r *http.Request) bool {
	got := sha256.Sum256([]byte(bearer(r)))
	match := 0
	for _, want := range rg.initial {
		match |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return match == 1 && bearer(r) != ""
}

// readBody reads a registration request body (RFC 7591 §3.1).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return nil, oauth.Errorf(oauth.InvalidRequest, "the body must be application/json (RFC 7591 §3.1)")
	}
	return readLimited(w, r, maxRegistrationBody)
}

// newRegistrationToken returns a registration access token (RFC 7592 §1)
// with 256 bits of entropy and its SHA-256 digest, which is all the
// store keeps.
func newRegistrationToken() (string, []byte) {
	tok := rand.Text() + rand.Text()
	h := sha256.Sum256([]byte(tok))
	return tok, h[:]
}

// issueSecret gives c a new secret if its method uses one, and returns
// the secret ("" for other methods).
func issueSecret(c *store.Client) (string, error) {
	c.SecretHash, c.Secret = nil, ""
	switch c.TokenEndpointAuthMethod {
	case oauth.AuthSecretBasic, oauth.AuthSecretPost, oauth.AuthSecretJWT:
	default:
		return "", nil
	}
	secret, hash, err := clientauth.NewSecret()
	if err != nil {
		return "", err
	}
	c.SecretHash = hash
	if c.TokenEndpointAuthMethod == oauth.AuthSecretJWT {
		c.Secret = secret // the HMAC key of RFC 7523 §2.2 cannot be hashed
	}
	return secret, nil
}

func usesSecret(c store.Client) bool {
	return len(c.SecretHash) > 0
}

// response builds the client information response of c.
func (rg *registrar) response(c store.Client, secret, statement, regToken string) registrationResponse {
	out := registrationResponse{
		Metadata:                registration.FromClient(c),
		SoftwareStatement:       statement,
		RegistrationAccessToken: regToken,
		RegistrationClientURI:   rg.clientURI(c.ID),
	}
	out.ClientSecret = secret
	if usesSecret(c) {
		// RFC 7591 §3.2.1: required when a secret was issued; 0 means
		// it does not expire.
		out.ClientSecretExpiresAt = registration.NeverExpires()
	}
	return out
}

// register serves POST /register (RFC 7591 §3): it validates the
// metadata with the rules the admin API uses, and returns the client with
// its secret and its registration access token, the only time either is
// shown.
func (rg *registrar) register() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rg.open && !rg.initialTokenOK(r) {
			rg.tokenError(w, r, bearer(r) != "", "a valid initial access token is required to register (RFC 7591 §3)")
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			writeError(w, r, rg.log, err)
			return
		}
		req, err := registration.ParseRequest(body, rg.policy, rg.now())
		if err != nil {
			writeError(w, r, rg.log, err)
			return
		}
		c, err := registration.Validate(req.Metadata, rg.policy)
		if err != nil {
			writeError(w, r, rg.log, err)
			return
		}
		b := make([]byte, 16)
		rand.Read(b)
		c.ID = base64.RawURLEncoding.EncodeToString(b)
		c.CreatedAt = rg.now().UTC()
		secret, err := issueSecret(&c)
		if err != nil {
			writeError(w, r, rg.log, err)
			return
		}
		regToken, regHash := newRegistrationToken()
		c.RegistrationAccessTokenHash = regHash
		if err := rg.store.CreateClient(r.Context(), c); err != nil {
			writeError(w, r, rg.log, err)
			return
		}
		rg.log.InfoContext(r.Context(), "client registered dynamically", "client_id", c.ID, "software_id", c.SoftwareID, "profile", c.Profile)
		w.Header().Set("Location", rg.clientURI(c.ID))
		oauth.WriteJSON(w, http.StatusCreated, rg.response(c, secret, req.SoftwareStatement, regToken))
	})
}

// errBadRegistrationToken stands for every failure to authenticate at
// the client configuration endpoint: RFC 7592 §2 answers an unknown
// client like a wrong token, so neither is told apart.
var errBadRegistrationToken = errors.New("registration access token does not match")

// authenticate returns the client of the request's client configuration
// endpoint if the request bears its registration access token (RFC 7592
// §2). Clients registered through the admin API have no such token and
// cannot be managed here.
func (rg *registrar) authenticate(r *http.Request) (store.Client, []byte, error) {
	tok := bearer(r)
	h := sha256.Sum256([]byte(tok))
	c, err := rg.store.Client(r.Context(), r.PathValue("client_id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		var dummy [sha256.Size]byte
		subtle.ConstantTimeCompare(h[:], dummy[:])
		return store.Client{}, nil, errBadRegistrationToken
	case err != nil:
		return store.Client{}, nil, err
	}
	ok := subtle.ConstantTimeCompare(h[:], c.RegistrationAccessTokenHash) == 1
	if !ok || tok == "" || c.ID != r.PathValue("client_id") {
		return store.Client{}, nil, errBadRegistrationToken
	}
	return c, h[:], nil
}

// managed wraps a client configuration endpoint handler with the
// registration access token check.
func (rg *registrar) managed(next func(w http.ResponseWriter, r *http.Request, c store.Client, tokenHash []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, h, err := rg.authenticate(r)
		switch {
		case errors.Is(err, errBadRegistrationToken):
			rg.tokenError(w, r, bearer(r) != "", "a valid registration access token for this client is required (RFC 7592 §2)")
			return
		case err != nil:
			writeError(w, r, rg.log, err)
			return
		}
		next(w, r, c, h)
	})
}

// read serves GET /register/{client_id} (RFC 7592 §2.1). The secret and
// the registration access token are stored hashed and so not shown.
func (rg *registrar) read() http.Handler {
	return rg.managed(func(w http.ResponseWriter, r *http.Request, c store.Client, _ []byte) {
		oauth.WriteJSON(w, http.StatusOK, rg.response(c, "", "", ""))
	})
}

// update serves PUT /register/{client_id} (RFC 7592 §2.2). The request
// replaces the client's metadata: omitted fields take their defaults. It
// must name the client's own client_id and, if it sends client_secret,
// the current one. The secret is kept while the method still uses one
// (a new one is issued when the client starts using a secret, or moves to
// client_secret_jwt, whose key must be held in clear); the registration
// access token is rotated on every update.
func (rg *registrar) update() http.Handler {
	return rg.managed(func(w http.ResponseWriter, r *http.Request, old store.Client, tokenHash []byte) {
		body, err := readBody(w, r)
		if err != nil {
			writeError(w, r, rg.log, err)
			return
		}
		req, err := registration.ParseRequest(body, rg.policy, rg.now())
		if err != nil {
			writeError(w, r, rg.log, err)
			return
		}
		// ParseRequest drops client_id and client_secret, which the
		// server assigns; an update must repeat them (RFC 7592 §2.2).
		// Their types were checked with the rest of the metadata.
		var raw struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		_ = json.Unmarshal(body, &raw)
		if raw.ClientID != old.ID {
			writeError(w, r, rg.log, oauth.Errorf(oauth.InvalidClientMetadata, "client_id is required and must be the client's own: it cannot be changed (RFC 7592 §2.2)"))
			return
		}
		validated, err := registration.Validate(req.Metadata, rg.policy)
		if err != nil {
			writeError(w, r, rg.log, err)
			return
		}
		regToken, regHash := newRegistrationToken()
		var secret string
		c, err := rg.store.UpdateClient(r.Context(), old.ID, func(c *store.Client) error {
			// The token is checked again inside the update, so that of two
			// concurrent updates with one token only the first succeeds.
			if subtle.ConstantTimeCompare(c.RegistrationAccessTokenHash, tokenHash) != 1 {
				return errBadRegistrationToken
			}
			if raw.ClientSecret != "" && subtle.ConstantTimeCompare(clientauth.HashSecret(raw.ClientSecret), c.SecretHash) != 1 {
				return oauth.Errorf(oauth.InvalidClientMetadata, "client_secret, when sent, must be the client's current secret (RFC 7592 §2.2)")
			}
			next := validated
			next.ID, next.CreatedAt = c.ID, c.CreatedAt
			next.RegistrationAccessTokenHash = regHash
			next.SecretHash, next.Secret = c.SecretHash, c.Secret
			switch {
			case !isSecretMethod(next.TokenEndpointAuthMethod):
				next.SecretHash, next.Secret = nil, ""
			case len(c.SecretHash) == 0 || (next.TokenEndpointAuthMethod == oauth.AuthSecretJWT && c.Secret == ""):
				s, err := issueSecret(&next)
				if err != nil {
					return err
				}
				secret = s
			case next.TokenEndpointAuthMethod != oauth.AuthSecretJWT:
				next.Secret = "" // no longer an HMAC key; the hash authenticates
			}
			*c = next
			return nil
		})
		switch {
		case errors.Is(err, errBadRegistrationToken):
			rg.tokenError(w, r, true, "the registration access token was rotated by another update")
			return
		case errors.Is(err, store.ErrNotFound):
			rg.tokenError(w, r, true, "a valid registration access token for this client is required (RFC 7592 §2)")
			return
		case err != nil:
			writeError(w, r, rg.log, err)
			return
		}
		rg.log.InfoContext(r.Context(), "client updated dynamically", "client_id", c.ID, "secret_issued", secret != "")
		oauth.WriteJSON(w, http.StatusOK, rg.response(c, secret, req.SoftwareStatement, regToken))
	})
}

func isSecretMethod(m string) bool {
	return m == oauth.AuthSecretBasic || m == oauth.AuthSecretPost || m == oauth.AuthSecretJWT
}

// remove serves DELETE /register/{client_id} (RFC 7592 §2.3): the client
// and its registration are gone; its credentials no longer authenticate.
func (rg *registrar) remove() http.Handler {
	return rg.managed(func(w http.ResponseWriter, r *http.Request, c store.Client, _ []byte) {
		if err := rg.store.DeleteClient(r.Context(), c.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			writeError(w, r, rg.log, err)
			return
		}
		rg.log.InfoContext(r.Context(), "client deleted dynamically", "client_id", c.ID)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}
