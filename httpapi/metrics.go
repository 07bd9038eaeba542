package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/backchannel/backchannel/oauth"
)

// Observer records what the HTTP API serves, for metrics (package
// metrics implements it). Its methods must be cheap and safe for
// concurrent use.
type Observer interface {
	// ObserveHTTP records one request: the ServeMux pattern that matched
	// it ("unmatched" if none did), its method, the response status, the
	// OAuth error code the response carried ("" if none) and the time it
	// took; elapsed < 0 means the latency is not worth observing (a
	// device event stream, open for minutes by design).
	ObserveHTTP(route, method string, status int, code string, elapsed time.Duration)
	// TokensIssued records a successful token response for grantType.
	TokensIssued(grantType string)
}

// observation is the context slot in which handlers leave what the
// metrics middleware cannot see in the response: the OAuth error code,
// and the grant_type of tokens issued.
type observation struct {
	code      oauth.Code
	grantType string
}

type observationKey struct{}

// noteError records code as the OAuth error of r's response, if r is
// being observed.
func noteError(r *http.Request, code oauth.Code) {
	if o, ok := r.Context().Value(observationKey{}).(*observation); ok {
		o.code = code
	}
}

// noteTokens records that r's response issues tokens for grantType, if
// r is being observed. Only the token endpoint calls it, with a
// grant_type it serves, so the label stays bounded.
func noteTokens(r *http.Request, grantType string) {
	if o, ok := r.Context().Value(observationKey{}).(*observation); ok {
		o.grantType = grantType
	}
}

// withMetrics reports every request to obs. It must wrap the ServeMux
// with nothing in between that replaces the *http.Request (as
// WithContext does), because the mux records the matched pattern in the
// request it is given, and that is what the route label is: the raw path
// carries IDs and would make a series per ID. A nil obs adds nothing.
func withMetrics(obs Observer, next http.Handler) http.Handler {
	if obs == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Latency is measured on the monotonic clock, not the injected
		// one: it is a property of this process, not of the protocol.
		start := time.Now()
		o := &observation{}
		r = r.WithContext(context.WithValue(r.Context(), observationKey{}, o))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			route := r.Pattern
			if route == "" {
				route = "unmatched" // 404 and 405 answers of the mux
			}
			elapsed := time.Since(start)
			if strings.HasPrefix(sw.Header().Get("Content-Type"), "text/event-stream") {
				elapsed = -1
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			obs.ObserveHTTP(route, methodLabel(r.Method), status, string(o.code), elapsed)
			if o.grantType != "" && status == http.StatusOK {
				obs.TokensIssued(o.grantType)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// methodLabel bounds the method label: clients may send any token.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// statusWriter remembers the status of the response. Unwrap lets
// http.ResponseController reach the connection's Flush and deadlines,
// which device event streams use.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
