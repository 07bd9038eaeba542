package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// JWT claims of a pushed ID token (CIBA Core §10.3.1).
const (
	claimAuthReqID = "urn:openid:params:jwt:claim:auth_req_id"
	claimRTHash    = "urn:openid:params:jwt:claim:rt_hash"
)

// maxNotification bounds a notification body. A ping is one short member
// and a push a token response of a few kilobytes; 64 KiB leaves room for
// large ID tokens.
const maxNotification = 64 << 10

// maxEarly bounds the notifications a Pending holds before Wait tells it
// which auth_req_id to expect. An OP sends one notification per request,
// and only the holder of the notification token can send any, so a few
// slots absorb retries without letting a runaway sender grow memory.
const maxEarly = 4

// NewNotificationToken returns a fresh client_notification_token: 256
// random bits, base64url-encoded without padding, which fits the
// b64token syntax of RFC 6750 §2.1 that CIBA Core §7.1 requires. Use a
// new token for every request.
func NewNotificationToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("notification token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Receiver is the http.Handler of a client's notification endpoint
// (backchannel_client_notification_endpoint) for ping mode (CIBA Core
// §10.2) and push mode (§10.3, §12). Each request the client starts is
// registered with Expect before Initiate, under its own notification
// token; the Receiver authenticates the OP by that token, checks the
// notification and hands it to the Pending's Wait.
//
// The Receiver answers 204 No Content to every notification it accepts
// and does no outbound request of its own except fetching the OP's JWKS
// to verify a pushed ID token: a ping is redeemed in Wait, so the OP is
// never kept waiting on the token endpoint. A Receiver is safe for
// concurrent use.
type Receiver struct {
	// Log, if not nil, receives a Warn record for every notification the
	// Receiver refuses, with the reason. It never records a token, an
	// auth_req_id or a notification token. Set it before serving.
	Log *slog.Logger

	c       *Client
	mu      sync.Mutex
	pending map[[sha256.Size]byte]*Pending // by SHA-256 of the notification token
}

// NewReceiver returns a Receiver for the notifications of c's requests.
func (c *Client) NewReceiver() *Receiver {
	return &Receiver{c: c, pending: make(map[[sha256.Size]byte]*Pending)}
}

// Expect registers a request about to be initiated with notification
// token tok (AuthRequest.ClientNotificationToken), so that a notification
// that arrives before Wait is not lost. Call it before Initiate, and call
// Cancel on the result once done with it: until then the Receiver
// answers duplicate notifications with 204 and ignores them. Expecting a
// token that is already expected replaces the earlier Pending, whose
// Wait then fails.
func (r *Receiver) Expect(tok string) *Pending {
	p := &Pending{r: r, sum: sha256.Sum256([]byte(tok)), wake: make(chan struct{}, 1)}
	r.mu.Lock()
	old := r.pending[p.sum]
	r.pending[p.sum] = p
	r.mu.Unlock()
	if old != nil {
		old.cancel()
	}
	return p
}

// lookup returns the Pending expecting bearer token tok, or nil.
func (r *Receiver) lookup(tok string) *Pending {
	// The map is keyed by the token's SHA-256, so a lookup's timing
	// depends only on a digest the caller cannot steer towards a real
	// token; the final comparison is in constant time.
	sum := sha256.Sum256([]byte(tok))
	r.mu.Lock()
	p := r.pending[sum]
	r.mu.Unlock()
	if p == nil || subtle.ConstantTimeCompare(sum[:], p.sum[:]) != 1 {
		return nil
	}
	return p
}

// Pending is a request whose notification a Receiver expects.
type Pending struct {
	r   *Receiver
	sum [sha256.Size]byte // SHA-256 of the notification token

	mu        sync.Mutex
	authReqID string         // set by Wait; empty until then
	queue     []notification // accepted, not yet handled by Wait
	done      bool           // Wait has returned a final outcome
	cancelled bool
	wake      chan struct{} // signalled when queue or cancelled changes
}

// kind is what a notification carries.
type kind int

const (
	ping     kind = iota // CIBA Core §10.2: the result is ready at the token endpoint
	push                 // CIBA Core §10.3.1: the tokens themselves
	pushFail             // CIBA Core §12: the request failed
)

// notification is one accepted notification.
type notification struct {
	kind      kind
	authReqID string
	tokens    *Tokens // push
	err       *Error  // pushFail
}

// Wait waits for the notification of s, the acknowledgement of the
// request initiated with p's notification token, and returns its
// outcome:
//   - after a ping (CIBA Core §10.2) it redeems s.AuthReqID with Token,
//     and returns the verified tokens or the token endpoint's *Error; an
//     authorization_pending or slow_down answer to a premature ping makes
//     it wait on, and a failure to reach the token endpoint (or a 503 or
//     temporarily_unavailable) makes it Poll;
//   - after a push (§10.3.1) it returns the pushed tokens, which the
//     Receiver has verified: the ID token as VerifyIDToken does, with an
//     at_hash matching the access token, an auth_req_id claim equal to
//     s.AuthReqID and, with a refresh token, an rt_hash matching it;
//     Tokens.Pushed is set;
//   - after a push error payload (§12) it returns an *Error with the
//     payload's code (access_denied, expired_token, transaction_failed)
//     and StatusCode 0.
//
// Wait accepts both modes, since the client's metadata at the OP decides
// which one is used. It gives up with an *Error whose Code is
// expired_token at s.ExpiresAt, with ctx's error when ctx ends, and with
// an error wrapping context.Canceled when p is cancelled. Notifications
// for another auth_req_id are ignored. Wait must not be called
// concurrently for one Pending.
func (p *Pending) Wait(ctx context.Context, s Started) (*Tokens, error) {
	if s.AuthReqID == "" {
		return nil, errors.New("wait for notification: no auth_req_id")
	}
	p.mu.Lock()
	p.authReqID = s.AuthReqID
	p.mu.Unlock()

	var expiry <-chan time.Time
	if !s.ExpiresAt.IsZero() {
		t := time.NewTimer(s.ExpiresAt.Sub(p.r.c.now()))
		defer t.Stop()
		expiry = t.C
	}
	for {
		n, ok, err := p.next(s.AuthReqID)
		if err != nil {
			return nil, err
		}
		if ok {
			tokens, err := p.handle(ctx, s, n)
			if tokens != nil || err != nil {
				return tokens, err
			}
			continue
		}
		select {
		case <-p.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-expiry:
			p.finish()
			return nil, &Error{Code: ExpiredToken, Description: "the request expired before the OP sent a notification"}
		}
	}
}

// next takes the first queued notification for authReqID, dropping those
// for another request (only notifications that arrived before Wait can
// be, as the handler refuses them once it knows the auth_req_id).
func (p *Pending) next(authReqID string) (notification, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancelled {
		return notification{}, false, fmt.Errorf("wait for notification: %w", context.Canceled)
	}
	for len(p.queue) > 0 {
		n := p.queue[0]
		p.queue = p.queue[1:]
		if sameSecret(n.authReqID, authReqID) {
			return n, true, nil
		}
	}
	return notification{}, false, nil
}

// handle acts on notification n. It returns nil tokens and a nil error
// when Wait should wait on.
func (p *Pending) handle(ctx context.Context, s Started, n notification) (*Tokens, error) {
	switch n.kind {
	case push:
		p.finish()
		return n.tokens, nil
	case pushFail:
		p.finish()
		return nil, n.err
	}
	tokens, err := p.r.c.Token(ctx, s.AuthReqID)
	e, isOAuth := errors.AsType[*Error](err)
	switch {
	case err == nil:
	case isOAuth && (e.Code == AuthorizationPending || e.Code == SlowDown):
		// A ping sent before the result was ready, or a stray retry:
		// the real one is still to come.
		return nil, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case !isOAuth || e.Code == TemporarilyUnavailable || e.StatusCode == http.StatusServiceUnavailable:
		// The result is ready but the token endpoint could not be
		// reached: poll it, as a ping client may (CIBA Core §5), so the
		// result is not lost with the ping.
		tokens, err = p.r.c.Poll(ctx, s)
	}
	p.finish()
	return tokens, err
}

// finish records that Wait has an outcome: later notifications are
// duplicates, answered and ignored.
func (p *Pending) finish() {
	p.mu.Lock()
	p.done = true
	p.queue = nil
	p.mu.Unlock()
}

// Cancel stops expecting the notification: a Wait in progress returns an
// error wrapping context.Canceled, and the Receiver answers the token
// with 401 from now on.
func (p *Pending) Cancel() {
	p.r.mu.Lock()
	if p.r.pending[p.sum] == p {
		delete(p.r.pending, p.sum)
	}
	p.r.mu.Unlock()
	p.cancel()
}

func (p *Pending) cancel() {
	p.mu.Lock()
	p.cancelled = true
	p.queue = nil
	p.mu.Unlock()
	p.signal()
}

func (p *Pending) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// errEarlyFull refuses a notification when too many arrived before Wait.
var errEarlyFull = errors.New("too many notifications before the client was ready")

// deliver queues n unless p already has its outcome. A notification for
// another auth_req_id than the one Wait expects is refused.
func (p *Pending) deliver(n notification) (accepted bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done || p.cancelled {
		return false, nil
	}
	if p.authReqID != "" && !sameSecret(n.authReqID, p.authReqID) {
		return false, errWrongAuthReqID
	}
	if p.authReqID == "" && len(p.queue) >= maxEarly {
		return false, errEarlyFull
	}
	p.queue = append(p.queue, n)
	p.signal()
	return true, nil
}

// finished reports whether Wait already has an outcome for p.
func (p *Pending) finished() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

var errWrongAuthReqID = errors.New("auth_req_id is not the one of the request")

// sameSecret reports whether a and b are equal, in time that depends
// only on their lengths.
func sameSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// ServeHTTP serves the client notification endpoint (CIBA Core §10.2,
// §10.3, §12). It accepts only a POST of a JSON object of at most 64 KiB,
// authenticated with a Bearer token (RFC 6750 §2.1) that Expect
// registered. It answers:
//   - 405 to any other method, 401 with WWW-Authenticate: Bearer to a
//     missing or unknown token, 400 to a body that is not JSON or not a
//     notification, 413 to a body over 64 KiB;
//   - 400 to an auth_req_id that is not the request's, and to a push
//     whose tokens do not verify; such tokens are not accepted;
//   - 204 to a notification it accepts, and to one arriving after Wait
//     has its outcome, which it ignores.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.refuse(w, req, http.StatusMethodNotAllowed, "the notification endpoint accepts only POST", "method")
		return
	}
	tok, ok := bearerToken(req.Header.Get("Authorization"))
	if !ok {
		// RFC 6750 §3.1: no error code when the request has no
		// credentials at all.
		w.Header().Set("WWW-Authenticate", `Bearer`)
		r.refuse(w, req, http.StatusUnauthorized, "", "no bearer token")
		return
	}
	p := r.lookup(tok)
	if p == nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		r.refuse(w, req, http.StatusUnauthorized, "", "unknown bearer token")
		return
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		r.refuse(w, req, http.StatusBadRequest, "the body must be application/json", "content type")
		return
	}
	body, err := readBody(w, req)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			r.refuse(w, req, http.StatusRequestEntityTooLarge, "the body is too large", "body too large")
			return
		}
		r.refuse(w, req, http.StatusBadRequest, "the body could not be read", "read body")
		return
	}
	if p.finished() {
		// A retry of a notification already acted on: CIBA Core §10.2
		// and §10.3 expect 204, and there is nothing more to do.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	n, err := r.parse(req.Context(), body)
	if err != nil {
		r.refuse(w, req, http.StatusBadRequest, err.Error(), err.Error())
		return
	}
	if _, err := p.deliver(n); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, errEarlyFull) {
			status = http.StatusServiceUnavailable
		}
		r.refuse(w, req, status, err.Error(), err.Error())
		return
	}
	// CIBA Core §10.2 and §10.3: 204 No Content for a valid notification.
	w.WriteHeader(http.StatusNoContent)
}

// bearerToken returns the token of an Authorization header of the Bearer
// scheme (RFC 6750 §2.1; the scheme is case-insensitive, RFC 9110 §11.1).
func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}

// readBody reads at most maxNotification bytes of req's body.
func readBody(w http.ResponseWriter, req *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, req.Body, maxNotification)
	defer body.Close()
	return io.ReadAll(body)
}

// notificationError is a reason to refuse a notification; its text is
// safe to send to the OP and to log.
type notificationError string

func (e notificationError) Error() string { return string(e) }

// parse checks a notification body and returns what it carries. A body
// with an error member is a push error payload (CIBA Core §12); one with
// tokens is a push (§10.3.1), whose tokens it verifies; one with only
// auth_req_id is a ping (§10.2).
func (r *Receiver) parse(ctx context.Context, body []byte) (notification, error) {
	var doc struct {
		AuthReqID   string `json:"auth_req_id"`
		Code        string `json:"error"`
		Description string `json:"error_description"`
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return notification{}, notificationError("the body is not a JSON object of a notification")
	}
	if doc.AuthReqID == "" {
		return notification{}, notificationError("no auth_req_id")
	}
	tokens := doc.AccessToken != "" || doc.IDToken != ""
	switch {
	case doc.Code != "" && tokens:
		return notification{}, notificationError("both an error and tokens")
	case doc.Code != "":
		return notification{kind: pushFail, authReqID: doc.AuthReqID, err: &Error{Code: doc.Code, Description: doc.Description}}, nil
	case !tokens:
		return notification{kind: ping, authReqID: doc.AuthReqID}, nil
	}
	t, err := r.verifyPush(ctx, body, doc.AuthReqID)
	if err != nil {
		return notification{}, err
	}
	return notification{kind: push, authReqID: doc.AuthReqID, tokens: t}, nil
}

// verifyPush checks the tokens of a push (CIBA Core §10.3.1): the ID
// token verifies as any ID token does, its at_hash matches the access
// token, its auth_req_id claim is the body's, and, when a refresh token
// came with it, its rt_hash matches the refresh token. The error says
// which check failed and nothing more.
func (r *Receiver) verifyPush(ctx context.Context, body []byte, authReqID string) (*Tokens, error) {
	t, err := parseTokens(body)
	if err != nil {
		return nil, notificationError("the token response is incomplete")
	}
	// CIBA Core §10.3.1: the OP MUST include at_hash; without it nothing
	// binds the access token to the signed ID token.
	id, err := r.c.VerifyIDToken(ctx, t.IDToken, t.AccessToken)
	if err != nil {
		r.logf(ctx, "pushed ID token refused", "reason", err.Error())
		return nil, notificationError("the ID token does not verify")
	}
	if id.AtHash == "" {
		return nil, notificationError("the ID token has no at_hash")
	}
	if claim, _ := id.Claims[claimAuthReqID].(string); !sameSecret(claim, authReqID) {
		return nil, notificationError("the ID token's auth_req_id claim is not the notification's")
	}
	if t.RefreshToken != "" {
		alg, err := signingAlg(t.IDToken, r.c.idAlgs)
		if err != nil {
			return nil, notificationError("the ID token does not verify")
		}
		want, err := tokenHash(alg, t.RefreshToken)
		if err != nil {
			return nil, notificationError("the ID token does not verify")
		}
		if claim, _ := id.Claims[claimRTHash].(string); !sameSecret(claim, want) {
			return nil, notificationError("the ID token's rt_hash does not match the refresh token")
		}
	}
	t.Claims = id
	t.Pushed = true
	return t, nil
}

// signingAlg returns the alg of a compact JWS already verified.
func signingAlg(raw string, algs []jose.SignatureAlgorithm) (jose.SignatureAlgorithm, error) {
	jws, err := jose.ParseSignedCompact(raw, algs)
	if err != nil {
		return "", err
	}
	return jose.SignatureAlgorithm(jws.Signatures[0].Protected.Algorithm), nil
}

// refuse answers a notification the Receiver does not accept. desc goes
// to the OP in an OAuth error document (empty: no body), reason to the
// log.
func (r *Receiver) refuse(w http.ResponseWriter, req *http.Request, status int, desc, reason string) {
	r.logf(req.Context(), "notification refused", "status", status, "reason", reason, "remote_addr", req.RemoteAddr)
	if desc == "" {
		w.WriteHeader(status)
		return
	}
	code := InvalidRequest
	if status == http.StatusServiceUnavailable {
		code = TemporarilyUnavailable
	}
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

func (r *Receiver) logf(ctx context.Context, msg string, args ...any) {
	if r.Log != nil {
		r.Log.WarnContext(ctx, msg, args...)
	}
}
