package httpapi

// The webhook channel's callback (docs/webhook.md): the deployment's own
// authentication system reports the user's decision on a request it was
// notified of.

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/mtls"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/webhook"
)

// WebhookCallback authenticates the webhook channel's decision callback.
type WebhookCallback struct {
	// Secret is the HMAC key shared with the receiver; it signs the
	// notifications too. Required.
	Secret []byte
	// CertificateSHA256 optionally admits calls over mutual TLS from the
	// client certificate with this SHA-256 thumbprint (base64url, as
	// x5t#S256) instead of a signature.
	CertificateSHA256 string
	// Tolerance bounds the signed timestamp's distance from now; 5 min.
	Tolerance time.Duration
}

// maxCallbackBody bounds a callback body: a decision of a few hundred
// bytes.
const maxCallbackBody = 16 << 10

// webhookDecision is the body of a decision callback.
type webhookDecision struct {
	Decision string   `json:"decision"` // "approve" or "deny"
	Summary  string   `json:"summary"`  // the notification's summary digest
	ACR      string   `json:"acr,omitempty"`
	AMR      []string `json:"amr,omitempty"`
	Reason   string   `json:"reason,omitempty"` // "not_me" on a denial
	Number   string   `json:"number,omitempty"` // the number picked, under number matching
}

// handleWebhookDecision serves POST /webhook/v1/requests/{id}/decision.
// A call must carry a valid Backchannel-Signature over its body, signed
// within the tolerance and never seen before, or come over mutual TLS
// with the configured certificate. Failures of authentication are
// invalid_token (401); the decision's own refusals are those of the
// device API.
func handleWebhookDecision(cb *WebhookCallback, svc *ciba.Service, st store.Store, now func() time.Time, log *slog.Logger) http.Handler {
	tolerance := cb.Tolerance
	if tolerance <= 0 {
		tolerance = webhook.DefaultTolerance
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		body, err := readLimited(w, r, maxCallbackBody)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if !cb.certified(r) {
			at, err := webhook.Verify(cb.Secret, r.Header.Get(webhook.Header), body, now(), tolerance)
			if err != nil {
				desc := "the signature is missing or does not match"
				if errors.Is(err, webhook.ErrStale) {
					desc = "the signature's timestamp is too old or in the future"
				}
				w.Header().Set("WWW-Authenticate", `Backchannel-HMAC realm="backchannel", error="invalid_token"`)
				writeError(w, r, log, oauth.Errorf(oauth.InvalidToken, "%s", desc).WithCause(err))
				return
			}
			// A signed message is accepted once: a replay within the
			// tolerance is refused. The key is the signed content (the
			// timestamp and the body), not the header, which could be
			// re-spelt (spaces, extra v1 values) around the same
			// signature. It outlives the tolerance window.
			signed := sha256Hex(strconv.FormatInt(at.Unix(), 10) + "." + string(body))
			if err := st.UseOnce(ctx, "webhook:"+signed, at.Add(tolerance+time.Minute)); errors.Is(err, store.ErrConflict) {
				w.Header().Set("WWW-Authenticate", `Backchannel-HMAC realm="backchannel", error="invalid_token"`)
				writeError(w, r, log, oauth.Errorf(oauth.InvalidToken, "the callback was already received"))
				return
			} else if err != nil {
				writeError(w, r, log, err)
				return
			}
		}
		var in webhookDecision
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			writeError(w, r, log, oauth.Errorf(oauth.InvalidRequest, "the body is not a valid decision: %s", jsonProblem(err)))
			return
		}
		if in.Decision != "approve" && in.Decision != "deny" {
			writeError(w, r, log, oauth.Errorf(oauth.InvalidRequest, `the decision must be "approve" or "deny"`))
			return
		}
		if in.Summary == "" {
			writeError(w, r, log, oauth.Errorf(oauth.InvalidRequest, "the decision needs the summary digest it covers"))
			return
		}
		if in.Reason != "" && (in.Reason != ciba.ReasonNotMe || in.Decision != "deny") {
			writeError(w, r, log, oauth.Errorf(oauth.InvalidRequest, `the only reason is "not_me", on a denial`))
			return
		}
		d := ciba.Decision{
			RequestID: r.PathValue("id"),
			Approve:   in.Decision == "approve",
			Summary:   in.Summary,
			Signed:    r.Header.Get(webhook.Header) + " " + string(body), // the evidence: signature and body
			ACR:       in.ACR,
			AMR:       in.AMR,
			Reason:    in.Reason,
			Number:    in.Number,
		}
		if err := svc.DecideExternal(ctx, d); err != nil {
			writeError(w, r, log, err)
			return
		}
		log.InfoContext(ctx, "webhook decision", "request_id", d.RequestID, "approve", d.Approve)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}

// certified reports whether r came over mutual TLS with the configured
// certificate.
func (cb *WebhookCallback) certified(r *http.Request) bool {
	if cb.CertificateSHA256 == "" {
		return false
	}
	cert := mtls.Certificate(r)
	return cert != nil && subtle.ConstantTimeCompare([]byte(mtls.Thumbprint(cert)), []byte(cb.CertificateSHA256)) == 1
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
