package httpapi

// The device API's passkey calls (docs/device-api.md, "Passkeys"): an
// enrolled device registers WebAuthn credentials for its user, lists and
// removes them. Approvals carry assertions by them (device.Passkeys).

import (
	"cmp"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// maxPasskeyBody bounds a registration: a PublicKeyCredential as JSON,
// a few kilobytes without attestation certificates.
const maxPasskeyBody = 64 << 10

// passkeyDoc is a passkey as the device API shows it.
type passkeyDoc struct {
	ID         string     `json:"id"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

func docFromPasskey(p store.Passkey) passkeyDoc {
	doc := passkeyDoc{ID: p.ID, CreatedAt: p.CreatedAt}
	if !p.LastUsedAt.IsZero() {
		doc.LastUsedAt = &p.LastUsedAt
	}
	return doc
}

// passkeysOf returns the passkeys of the calling device, or refuses the
// call when the server has none.
func passkeysOf(call deviceCall) (*device.Passkeys, error) {
	if call.auth.Passkeys == nil {
		return nil, oauth.Errorf(oauth.NotFound, "this server has no passkeys: its issuer is not on a domain name")
	}
	return call.auth.Passkeys, nil
}

// handlePasskeys serves GET /device/v1/passkeys: whether the server
// offers passkeys, for which relying party ID, and the device's passkeys.
func handlePasskeys(st store.Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := callFrom(r.Context())
		doc := struct {
			Available bool         `json:"available"`
			RPID      string       `json:"rp_id,omitempty"`
			Passkeys  []passkeyDoc `json:"passkeys"`
		}{Passkeys: []passkeyDoc{}}
		if pk := call.auth.Passkeys; pk != nil {
			doc.Available, doc.RPID = true, pk.RPID()
			list, err := st.Passkeys(r.Context(), call.dev.ID)
			if err != nil {
				writeError(w, r, log, err)
				return
			}
			for _, p := range list {
				doc.Passkeys = append(doc.Passkeys, docFromPasskey(p))
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		oauth.WriteJSON(w, http.StatusOK, doc)
	})
}

// handlePasskeyOptions serves POST /device/v1/passkeys/options: the
// options of navigator.credentials.create for a new passkey of the
// device's user, with a challenge the device must use within
// device.PasskeyTTL.
func handlePasskeyOptions(st store.Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		call := callFrom(ctx)
		pk, err := passkeysOf(call)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		name := call.dev.Subject
		if u, err := st.User(ctx, call.dev.Subject); err == nil {
			name = cmp.Or(u.PreferredUsername, u.Email, u.Subject)
		} else if !errors.Is(err, store.ErrNotFound) {
			writeError(w, r, log, err)
			return
		}
		options, err := pk.BeginRegistration(ctx, call.dev, name)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(options)
	})
}

// handlePasskeyCreate serves POST /device/v1/passkeys: the device sends
// the PublicKeyCredential that navigator.credentials.create returned, as
// JSON; the server verifies it against the outstanding challenge and
// keeps the passkey.
func handlePasskeyCreate(log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		call := callFrom(ctx)
		pk, err := passkeysOf(call)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
			writeError(w, r, log, oauth.Errorf(oauth.InvalidRequest, "the body must be application/json"))
			return
		}
		body, err := readLimited(w, r, maxPasskeyBody)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		p, err := pk.FinishRegistration(ctx, call.dev, body)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		log.InfoContext(ctx, "passkey registered", "device_id", call.dev.ID, "sub", call.dev.Subject, "passkey_id", p.ID)
		oauth.WriteJSON(w, http.StatusCreated, docFromPasskey(p))
	})
}

// handlePasskeyDelete serves DELETE /device/v1/passkeys/{id}: the device
// removes one of its passkeys.
func handlePasskeyDelete(st store.Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		call := callFrom(ctx)
		err := st.DeletePasskey(ctx, call.dev.ID, r.PathValue("id"))
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, r, log, oauth.Errorf(oauth.NotFound, "this device has no such passkey"))
			return
		}
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		log.InfoContext(ctx, "passkey removed", "device_id", call.dev.ID, "passkey_id", r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	})
}
