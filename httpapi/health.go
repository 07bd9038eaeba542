package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// readyTimeout bounds the database check of /readyz: a load balancer
// must hear "not ready" quickly rather than time out itself.
const readyTimeout = 2 * time.Second

// readiness is the body of /readyz. Failed names what is not ready
// ("database", "signing_keys") and never why: the cause is logged.
type readiness struct {
	Status string   `json:"status"` // "ready" or "unavailable"
	Failed []string `json:"failed,omitempty"`
}

// handleReady answers 200 when this instance can serve: the database
// answers a ping within readyTimeout, and k holds an active key for its
// default alg. Otherwise it answers 503 naming what failed. /healthz,
// by contrast, says only that the process is alive.
func handleReady(s store.Store, k *keys.Set, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var failed []string
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		err := s.Ping(ctx)
		cancel()
		if err != nil {
			log.WarnContext(r.Context(), "not ready: database", "err", err)
			failed = append(failed, "database")
		}
		if !k.CanSign("") {
			log.WarnContext(r.Context(), "not ready: no active signing key", "alg", k.DefaultAlg())
			failed = append(failed, "signing_keys")
		}
		if len(failed) > 0 {
			oauth.WriteJSON(w, http.StatusServiceUnavailable, readiness{Status: "unavailable", Failed: failed})
			return
		}
		oauth.WriteJSON(w, http.StatusOK, readiness{Status: "ready"})
	})
}
