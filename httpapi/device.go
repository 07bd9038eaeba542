package httpapi

// The device API (docs/device-api.md) and the admin API's device
// handlers. The device API is what an authentication device calls: it
// enrols with a code, then authenticates every call by a signature of its
// key (requireDevice), follows its user's pending requests and sends
// signed decisions. It never sees an auth_req_id.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// maxDecisionBody bounds a decision body: one compact JWS of a few
// hundred bytes, or that JWS in a small JSON object.
const maxDecisionBody = 16 << 10

// Timing of the device request stream.
const (
	// streamHeartbeat is how often an idle stream sends a comment, so
	// that proxies and the device see a live connection and a dead one
	// is noticed.
	streamHeartbeat = 15 * time.Second
	// streamMaxAge bounds a stream's life. The device then reconnects
	// with a fresh proof, so a device revoked while it streams is cut
	// off within this time.
	streamMaxAge = 10 * time.Minute
)

// handleEnrol serves POST /device/v1/enrol: a new device redeems an
// enrolment code with a proof of possession of its key (device.EnrolRequest).
func handleEnrol(enr *device.Enroller, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req device.EnrolRequest
		if err := decodeJSON(w, r, &req); err != nil {
			writeError(w, r, log, err)
			return
		}
		dev, err := enr.Enrol(r.Context(), req)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		log.InfoContext(r.Context(), "device enrolled", "device_id", dev.ID, "sub", dev.Subject)
		oauth.WriteJSON(w, http.StatusCreated, enrolled{DeviceID: dev.ID, Subject: dev.Subject})
	})
}

// enrolled is the response of an enrolment.
type enrolled struct {
	DeviceID string `json:"device_id"`
	Subject  string `json:"subject"`
}

// deviceCall is what requireDevice learned about a call: the device, and
// the authenticator that admitted it, which also verifies the call's
// decision so that both checks share one store, clock and skew.
type deviceCall struct {
	dev  store.Device
	auth *device.Authenticator
	// proof is the call proof's jti when the handler records it with its
	// own change (requireDeviceDeferred); nil when it is recorded.
	proof *store.Once
}

const deviceCallKey ctxKey = 100 // clear of the keys api.go numbers with iota

// requireDevice admits calls authenticated by an enrolled, unrevoked
// device (device.Authenticator) and refuses others with invalid_token and
// a WWW-Authenticate challenge (RFC 9110 §11.6.1).
func requireDevice(auth *device.Authenticator, log *slog.Logger, next http.Handler) http.Handler {
	return admitDevice(auth, false, log, next)
}

// requireDeviceDeferred is requireDevice for a handler that records the
// proof's jti in the write transaction of its change (deviceCall.proof),
// saving a write of its own: the decision.
func requireDeviceDeferred(auth *device.Authenticator, log *slog.Logger, next http.Handler) http.Handler {
	return admitDevice(auth, true, log, next)
}

func admitDevice(auth *device.Authenticator, deferred bool, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var dev store.Device
		var proof *store.Once
		var err error
		if deferred {
			var once store.Once
			dev, once, err = auth.AuthenticateDeferred(r)
			proof = &once
		} else {
			dev, err = auth.Authenticate(r)
		}
		if err != nil {
			var oe *oauth.Error
			if errors.As(err, &oe) && oe.Code == oauth.InvalidToken {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`%s realm="backchannel", error="invalid_token", algs="%s"`, device.AuthScheme, device.Alg))
			}
			writeError(w, r, log, err)
			return
		}
		ctx := context.WithValue(r.Context(), deviceCallKey, deviceCall{dev: dev, auth: auth, proof: proof})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// deviceFrom returns the device that requireDevice authenticated.
func deviceFrom(ctx context.Context) store.Device {
	return callFrom(ctx).dev
}

func callFrom(ctx context.Context) deviceCall {
	c, ok := ctx.Value(deviceCallKey).(deviceCall)
	if !ok {
		// A route registered without requireDevice: a wiring bug that
		// must not pass for an anonymous device.
		panic("httpapi: device handler without requireDevice")
	}
	return c
}

// handleDeviceRequests serves GET /device/v1/requests: the pending
// requests of the device's user, as JSON {"requests": [Summary…]}, or,
// for Accept: text/event-stream, as a live stream of events.
func handleDeviceRequests(svc *ciba.Service, hub *device.Hub, log *slog.Logger) http.Handler {
	return requestStream{svc: svc, hub: hub, log: log, heartbeat: streamHeartbeat, maxAge: streamMaxAge, shown: &shownSet{}}
}

// requestStream is handleDeviceRequests with its timing as fields, which
// tests shorten.
type requestStream struct {
	svc       *ciba.Service
	hub       *device.Hub
	log       *slog.Logger
	heartbeat time.Duration
	maxAge    time.Duration
	shown     *shownSet // the requests recorded as shown; nil: record every time
}

func (h requestStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	dev := deviceFrom(ctx)
	if !acceptsEventStream(r.Header.Get("Accept")) {
		list, err := h.svc.Pending(ctx, dev.Subject)
		if err != nil {
			writeError(w, r, h.log, err)
			return
		}
		h.recordShown(ctx, dev, list, ciba.ShownList)
		oauth.WriteJSON(w, http.StatusOK, map[string][]ciba.Summary{"requests": nonNilSummaries(list)})
		return
	}

	// Subscribe before the first read, so that a change between the read
	// and the subscription still wakes the stream.
	wake, cancel := h.hub.Subscribe(dev.Subject)
	defer cancel()
	list, err := h.svc.Pending(ctx, dev.Subject)
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	rc := http.NewResponseController(w)
	// A stream outlives any write timeout meant for ordinary responses.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		h.log.WarnContext(ctx, "device stream: clear write deadline", "err", err)
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // nginx: pass events through unbuffered
	w.WriteHeader(http.StatusOK)
	// Send the headers now: with no request pending, the device would
	// otherwise wait for the first heartbeat to learn it is connected.
	if err := rc.Flush(); err != nil {
		return
	}

	via := ciba.ShownStream // how the requests sent next reach the device, for the audit trail
	es := eventStream{w: w, rc: rc, sent: make(map[string]bool), onSend: func(s ciba.Summary) {
		h.recordShown(ctx, dev, []ciba.Summary{s}, via)
	}}
	if err := es.sync(list); err != nil {
		return // the device went away
	}
	heartbeat := time.NewTicker(h.heartbeat)
	defer heartbeat.Stop()
	maxAge := time.NewTimer(h.maxAge)
	defer maxAge.Stop()
	expiry := time.NewTimer(untilFirstExpiry(list))
	defer expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-maxAge.C:
			return
		case <-heartbeat.C:
			if err := es.comment("heartbeat"); err != nil {
				return
			}
			continue
		case <-wake:
			via = ciba.ShownLive
		case <-expiry.C:
			via = ciba.ShownStream
			// A request that expires leaves the list without a change
			// to wake us; re-read then, to send its gone event.
		}
		list, err := h.svc.Pending(ctx, dev.Subject)
		if err != nil {
			if ctx.Err() == nil {
				h.log.ErrorContext(ctx, "device stream: list pending requests", "sub", dev.Subject, "err", err)
			}
			return // the device reconnects and starts over
		}
		if err := es.sync(list); err != nil {
			return
		}
		expiry.Reset(untilFirstExpiry(list))
	}
}

// eventStream writes the events of a device request stream (HTML Living
// Standard, "Server-sent events").
type eventStream struct {
	w    io.Writer
	rc   *http.ResponseController
	sent map[string]bool // the requests the device was sent and not told are gone
	// onSend, if set, is called with each request event just before it is
	// sent, so that the audit trail's "shown" always precedes the
	// decision the device may take the moment it sees the request.
	onSend func(ciba.Summary)
}

// sync sends a gone event for each request sent before and missing from
// list, then a request event for each request of list not sent before.
func (es eventStream) sync(list []ciba.Summary) error {
	now := make(map[string]bool, len(list))
	for _, s := range list {
		now[s.RequestID] = true
	}
	var gone []string
	for id := range es.sent {
		if !now[id] {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		b, _ := json.Marshal(map[string]string{"request_id": id})
		if err := es.event("gone", b); err != nil {
			return err
		}
		delete(es.sent, id)
	}
	for _, s := range list {
		if es.sent[s.RequestID] {
			continue
		}
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		if es.onSend != nil {
			es.onSend(s)
		}
		if err := es.event("request", b); err != nil {
			return err
		}
		es.sent[s.RequestID] = true
	}
	return nil
}

// event writes one event and flushes it. data is one line of JSON.
func (es eventStream) event(name string, data []byte) error {
	if _, err := fmt.Fprintf(es.w, "event: %s\ndata: %s\n\n", name, data); err != nil {
		return err
	}
	return es.rc.Flush()
}

// comment writes a comment line, which event stream readers ignore.
func (es eventStream) comment(text string) error {
	if _, err := fmt.Fprintf(es.w, ": %s\n\n", text); err != nil {
		return err
	}
	return es.rc.Flush()
}

// untilFirstExpiry returns how long until the first request of list has
// surely expired: Summary.ExpiresAt is in whole seconds, so one second
// past it. With no requests it returns a long wait.
func untilFirstExpiry(list []ciba.Summary) time.Duration {
	if len(list) == 0 {
		return 24 * time.Hour
	}
	first := list[0].ExpiresAt
	for _, s := range list[1:] {
		first = min(first, s.ExpiresAt)
	}
	return max(time.Until(time.Unix(first+1, 0)), 0)
}

// acceptsEventStream reports whether an Accept header asks for
// text/event-stream.
func acceptsEventStream(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "text/event-stream" && params["q"] != "0" {
			return true
		}
	}
	return false
}

func nonNilSummaries(list []ciba.Summary) []ciba.Summary {
	if list == nil {
		return []ciba.Summary{}
	}
	return list
}

// handleDecision serves POST /device/v1/requests/{id}/decision: the
// device's signed approval or denial of request {id}. The body is the
// decision JWS as application/jose, or {"decision": JWS} as
// application/json.
func handleDecision(svc *ciba.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		call := callFrom(ctx)
		signed, err := readDecision(w, r)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		d, err := call.auth.ParseDecision(ctx, call.dev, signed)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		// The URL names the request too; a decision signed for another
		// request must not be filed under this one.
		if d.RequestID != r.PathValue("id") {
			writeError(w, r, log, oauth.Errorf(oauth.InvalidRequest, "the decision is for another request"))
			return
		}
		if call.proof != nil {
			// The call's proof is used up with the decision, in its
			// transaction: a replayed call changes nothing.
			d.Once = append(d.Once, *call.proof)
		}
		if err := svc.Decide(ctx, call.dev, d); err != nil {
			writeError(w, r, log, err)
			return
		}
		log.InfoContext(ctx, "device decision", "device_id", call.dev.ID, "request_id", d.RequestID, "approve", d.Approve)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}

// readDecision reads the decision JWS from the body of r.
func readDecision(w http.ResponseWriter, r *http.Request) (string, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/jose" && ct != "application/json" {
		return "", oauth.Errorf(oauth.InvalidRequest, "the body must be application/jose or application/json")
	}
	body, err := readLimited(w, r, maxDecisionBody)
	if err != nil {
		return "", err
	}
	if ct == "application/jose" {
		return strings.TrimSpace(string(body)), nil
	}
	var doc struct {
		Decision string `json:"decision"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Decision == "" {
		return "", oauth.Errorf(oauth.InvalidRequest, `the body must be {"decision": JWS}`)
	}
	return doc.Decision, nil
}

// deviceDoc is a device as the device and admin APIs show it.
type deviceDoc struct {
	DeviceID  string     `json:"device_id"`
	Subject   string     `json:"subject"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func docFromDevice(d store.Device) deviceDoc {
	doc := deviceDoc{DeviceID: d.ID, Subject: d.Subject, Name: d.Name, CreatedAt: d.CreatedAt}
	if !d.RevokedAt.IsZero() {
		doc.RevokedAt = &d.RevokedAt
	}
	return doc
}

// handleDeviceSelf serves GET /device/v1/device (the calling device) and
// DELETE /device/v1/device (the device revokes itself, say when its app
// signs out).
func handleDeviceSelf(st store.Store, now func() time.Time, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dev := deviceFrom(r.Context())
		switch r.Method {
		case http.MethodGet:
			oauth.WriteJSON(w, http.StatusOK, docFromDevice(dev))
		case http.MethodDelete:
			if err := device.Revoke(r.Context(), st, dev.ID, now()); err != nil {
				writeError(w, r, log, err)
				return
			}
			log.InfoContext(r.Context(), "device revoked itself", "device_id", dev.ID, "sub", dev.Subject)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", "GET, DELETE")
			writeError(w, r, log, oauth.Errorf(oauth.InvalidRequest, "method not allowed").WithStatus(http.StatusMethodNotAllowed))
		}
	})
}

// handleAdminCreateEnrolment serves POST /admin/v1/enrolments: it
// creates a single-use enrolment code for the user {"subject"} and
// returns it with the link a phone opens.
func handleAdminCreateEnrolment(enr *device.Enroller, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Subject string `json:"subject"`
		}
		if err := decodeJSON(w, r, &in); err != nil {
			writeError(w, r, log, err)
			return
		}
		code, url, exp, err := enr.NewCode(r.Context(), in.Subject)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		qr, err := device.QRDataURL(url, 320)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		log.InfoContext(r.Context(), "enrolment created", "sub", in.Subject, "expires_at", exp)
		oauth.WriteJSON(w, http.StatusCreated, enrolment{Code: code, URL: url, ExpiresAt: exp, QRPNG: qr})
	})
}

// enrolment is the admin API's response to a new enrolment code.
type enrolment struct {
	Code      string    `json:"code"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	// QRPNG is URL as a QR code, a PNG data URL, for a phone's camera.
	QRPNG string `json:"qr_png"`
}

// handleAdminDevices serves GET /admin/v1/devices?subject=SUB: the user's
// devices, revoked ones included, oldest first.
func handleAdminDevices(st store.Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub := r.URL.Query().Get("subject")
		if sub == "" {
			writeError(w, r, log, oauth.Errorf(oauth.InvalidRequest, "the subject parameter is required"))
			return
		}
		ds, err := st.Devices(r.Context(), sub)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		out := make([]deviceDoc, len(ds))
		for i, d := range ds {
			out[i] = docFromDevice(d)
		}
		oauth.WriteJSON(w, http.StatusOK, map[string]any{"devices": out})
	})
}

// handleAdminRevokeDevice serves DELETE /admin/v1/devices/{id}.
func handleAdminRevokeDevice(st store.Store, now func() time.Time, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := device.Revoke(r.Context(), st, id, now()); err != nil {
			writeError(w, r, log, err)
			return
		}
		log.InfoContext(r.Context(), "device revoked", "device_id", id)
		w.WriteHeader(http.StatusNoContent)
	})
}
