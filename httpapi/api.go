package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/clientauth"
	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/dpop"
	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/registration"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/token"
	"github.com/backchannel/backchannel/web"
	"github.com/backchannel/backchannel/webpush"
)

// Deps are the services the handlers use. All fields are required unless
// their comment says otherwise.
type Deps struct {
	Log          *slog.Logger
	Issuer       string // the issuer identifier; endpoint URLs are built from it
	Keys         *keys.Set
	ClientAuth   *clientauth.Authenticator
	CIBA         *ciba.Service
	Store        store.Store
	Hub          *device.Hub
	DeviceAuth   *device.Authenticator
	Enroller     *device.Enroller
	Registration registration.Policy
	// Tokens serves refresh, introspection, revocation and userinfo.
	// Nil leaves the refresh_token grant and those endpoints out.
	Tokens *token.Service
	// DPoP verifies DPoP proofs (RFC 9449) at the token and userinfo
	// endpoints, binding and checking DPoP-bound tokens. Nil means the
	// server does not do DPoP: the DPoP header is ignored, tokens are
	// Bearer, and discovery names no DPoP algs.
	DPoP *dpop.Verifier
	// AdminToken guards the admin API. Empty means the admin API is not
	// served by this handler (it may have a listener of its own).
	AdminToken string
	// AdminOnly serves only the admin API (for a separate admin listener).
	AdminOnly bool
	// MTLSBaseURL is the public base URL of a listener of its own for
	// the mutual TLS endpoint aliases (RFC 8705 §5), such as
	// https://mtls.login.example.com. Empty, with Registration.MTLS set,
	// the aliases are the normal endpoints.
	MTLSBaseURL string

	// Demo serves the demo console at /demo when set (serve --dev, or
	// demo.enabled); nil leaves it out.
	Demo *web.Demo

	Now func() time.Time // defaults to time.Now

	// DynamicRegistration serves the registration endpoint (RFC 7591)
	// and the client configuration endpoint (RFC 7592) when set; nil
	// leaves them out, and out of discovery.
	DynamicRegistration *DynamicRegistration

	// Observer is told of every request served and every token issued,
	// for metrics. Optional.
	Observer Observer
	// Metrics serves GET /metrics when set. It is unauthenticated, as
	// Prometheus scrapers expect: give it to the handler of a listener
	// that only the monitoring network reaches.
	Metrics http.Handler
	// KeysRotated is called after a rotation through the admin API, to
	// make the other instances reload the keys at once. Optional.
	KeysRotated func()
	// Webhook serves the webhook channel's decision callback when set
	// (docs/webhook.md); nil leaves it out.
	Webhook *WebhookCallback
	// WebPushKey is the server's VAPID key; when set, devices may save a
	// Web Push subscription (GET, PUT and DELETE /device/v1/push). nil
	// leaves those routes out.
	WebPushKey *webpush.Key
}

func (d Deps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// New returns the root handler. routes.go lists every route it serves.
func New(d Deps) http.Handler {
	mux := http.NewServeMux()
	addRoutes(mux, d)
	return withRequestID(withMetrics(d.Observer, withRecover(d.Log, mux)))
}

// endpoint returns the absolute URL of a path of this server.
func endpoint(issuer, path string) string {
	return strings.TrimSuffix(issuer, "/") + path
}

type ctxKey int

const requestIDKey ctxKey = iota

// withRequestID gives every request an ID, sent back in X-Request-Id and
// added to log lines through the request context.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 9)
		rand.Read(b)
		id := base64.RawURLEncoding.EncodeToString(b)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// RequestID returns the request ID of ctx, if any.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// withRecover turns a panic in a handler into a logged server_error, so
// one bad request cannot take the process down.
func withRecover(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				noteError(r, oauth.ServerError)
				log.ErrorContext(r.Context(), "handler panic", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()), "http_request_id", RequestID(r.Context()))
				oauth.WriteError(w, &oauth.Error{Code: oauth.ServerError})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// requireAdmin admits requests bearing the admin token. Tokens are
// compared as hashes in constant time, so neither their content nor their
// length leaks through timing.
func requireAdmin(token string, log *slog.Logger, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		h := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(h[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="backchannel-admin"`)
			writeError(w, r, log, oauth.Errorf(oauth.InvalidToken, "a valid admin token is required"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
