package httpapi

// The device API's Web Push calls (docs/device-api.md): a device reads the
// server's VAPID key, subscribes with its browser's push service, and
// saves the subscription, so that new requests reach it while the app is
// closed (package webpush sends them).

import (
	"log/slog"
	"net/http"

	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/webpush"
)

// pushDoc is the answer of GET /device/v1/push.
type pushDoc struct {
	// ApplicationServerKey is the VAPID public key for
	// PushManager.subscribe (RFC 8292 §3.2).
	ApplicationServerKey string `json:"application_server_key"`
	// Subscribed reports whether the calling device has a subscription.
	Subscribed bool `json:"subscribed"`
}

// handlePushKey serves GET /device/v1/push.
func handlePushKey(key *webpush.Key) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dev := deviceFrom(r.Context())
		oauth.WriteJSON(w, http.StatusOK, pushDoc{ApplicationServerKey: key.ApplicationServerKey(), Subscribed: dev.Push.Endpoint != ""})
	})
}

// handleSavePush serves PUT /device/v1/push: the body is the browser's
// PushSubscription JSON, which replaces the device's subscription.
func handleSavePush(st store.Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dev := deviceFrom(r.Context())
		var in webpush.Subscription
		if err := decodeJSON(w, r, &in); err != nil {
			writeError(w, r, log, err)
			return
		}
		sub, err := in.Parse()
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		// A device revoked since requireDevice admitted it gets
		// ErrNotFound: a server error is right for that rare race, as
		// the subscription is not saved.
		if err := st.SetPushSubscription(r.Context(), dev.ID, sub); err != nil {
			writeError(w, r, log, err)
			return
		}
		// The endpoint and keys are not logged: the endpoint is a
		// capability of the push service, and keys.auth a secret.
		log.InfoContext(r.Context(), "push subscription saved", "device_id", dev.ID, "sub", dev.Subject)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}

// handleDeletePush serves DELETE /device/v1/push. Removing no
// subscription succeeds too, so a retried removal does.
func handleDeletePush(st store.Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dev := deviceFrom(r.Context())
		if err := st.DeletePushSubscription(r.Context(), dev.ID, ""); err != nil {
			writeError(w, r, log, err)
			return
		}
		log.InfoContext(r.Context(), "push subscription removed", "device_id", dev.ID, "sub", dev.Subject)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}
