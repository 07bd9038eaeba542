package client_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/client"
)

const (
	claimAuthReqID = "urn:openid:params:jwt:claim:auth_req_id"
	claimRTHash    = "urn:openid:params:jwt:claim:rt_hash"
	pushedAT       = "pushed-access-token"
	pushedRT       = "pushed-refresh-token"
)

func TestNewNotificationToken(t *testing.T) {
	t.Parallel()
	// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
	b64token := regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)
	seen := map[string]bool{}
	for range 4 {
		tok, err := client.NewNotificationToken()
		if err != nil {
			t.Fatalf("NewNotificationToken() = %v", err)
		}
		if !b64token.MatchString(tok) {
			t.Errorf("NewNotificationToken() = %q, not an RFC 6750 b64token", tok)
		}
		// 128 bits need at least 22 base64 characters.
		if len(tok) < 22 {
			t.Errorf("NewNotificationToken() = %q, %d characters, want at least 22", tok, len(tok))
		}
		if seen[tok] {
			t.Errorf("NewNotificationToken() = %q twice", tok)
		}
		seen[tok] = true
	}
}

// rig is a Receiver of a client of a fake OP reached in memory, with one
// expected request, for use inside a synctest bubble.
type rig struct {
	t    *testing.T
	op   *fakeOP
	c    *client.Client
	recv *client.Receiver
	tok  string
	p    *client.Pending

	mu          sync.Mutex
	tokenCalls  int
	tokenAnswer []answer // answers of the token endpoint; the last repeats
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, op: newMemoryOP(t), tokenAnswer: []answer{granted}}
	r.op.token = func(w http.ResponseWriter, req *http.Request) {
		if got := readForm(t, req).Get("auth_req_id"); got != "areq-1" {
			t.Errorf("token request auth_req_id = %q, want areq-1", got)
		}
		r.mu.Lock()
		r.tokenCalls++
		a := r.tokenAnswer[min(r.tokenCalls, len(r.tokenAnswer))-1]
		r.mu.Unlock()
		a(r.op, w)
	}
	r.c = r.op.newClient(r.op.config())
	r.recv = r.c.NewReceiver()
	tok, err := client.NewNotificationToken()
	if err != nil {
		t.Fatal(err)
	}
	r.tok = tok
	r.p = r.recv.Expect(tok)
	t.Cleanup(r.p.Cancel)
	return r
}

func (r *rig) tokenRequests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tokenCalls
}

// started is the acknowledgement of the expected request.
func started(expiresIn time.Duration) client.Started {
	return client.Started{AuthReqID: "areq-1", ExpiresIn: expiresIn, ExpiresAt: time.Now().Add(expiresIn)}
}

// result is what Wait returned.
type result struct {
	tokens *client.Tokens
	err    error
}

// wait starts Wait for s and returns the channel of its result.
func (r *rig) wait(ctx context.Context, s client.Started) <-chan result {
	ch := make(chan result, 1)
	go func() {
		tokens, err := r.p.Wait(ctx, s)
		ch <- result{tokens, err}
	}()
	return ch
}

// post sends a notification with the bearer token tok to the Receiver.
func (r *rig) post(tok string, body any) *httptest.ResponseRecorder {
	r.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.send(http.MethodPost, tok, "application/json", b)
}

func (r *rig) send(method, tok, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "https://rp.example/cb", bytes.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	r.recv.ServeHTTP(rec, req)
	return rec
}

// mustStatus checks the status of a notification's response.
func mustStatus(t *testing.T, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("notification status = %d (body %q), want %d", rec.Code, rec.Body, want)
	}
}

// stillWaiting checks that Wait has not returned once every goroutine of
// the bubble is blocked.
func stillWaiting(t *testing.T, ch <-chan result) {
	t.Helper()
	synctest.Wait()
	select {
	case res := <-ch:
		t.Fatalf("Wait() = %+v, %v; want it still waiting", res.tokens, res.err)
	default:
	}
}

// pushBody returns a push of tokens for authReqID (CIBA Core §10.3.1)
// whose ID token claims edit may change before they are signed.
func (op *fakeOP) pushBody(authReqID string, edit func(claims map[string]any)) map[string]any {
	claims := op.claims(pushedAT)
	claims[claimAuthReqID] = authReqID
	claims[claimRTHash] = atHash(pushedRT)
	if edit != nil {
		edit(claims)
	}
	return map[string]any{
		"auth_req_id":   authReqID,
		"access_token":  pushedAT,
		"token_type":    "Bearer",
		"expires_in":    600,
		"refresh_token": pushedRT,
		"scope":         "openid",
		"id_token":      op.sign(claims),
	}
}

func TestReceiverPing(t *testing.T) {
	t.Parallel()
	t.Run("after Wait", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t)
			ch := r.wait(t.Context(), started(2*time.Minute))
			stillWaiting(t, ch)
			if n := r.tokenRequests(); n != 0 {
				t.Fatalf("token requests before the ping = %d, want 0", n)
			}
			mustStatus(t, r.post(r.tok, map[string]string{"auth_req_id": "areq-1"}), http.StatusNoContent)
			res := <-ch
			if res.err != nil {
				t.Fatalf("Wait() = %v", res.err)
			}
			if res.tokens.AccessToken != "access-token-1" || res.tokens.Claims.Subject != "alice" || res.tokens.Pushed {
				t.Errorf("Wait() = %+v, want the token endpoint's tokens with a verified ID token", res.tokens)
			}
			if n := r.tokenRequests(); n != 1 {
				t.Errorf("token requests = %d, want 1", n)
			}
			// A retried ping is answered and ignored.
			mustStatus(t, r.post(r.tok, map[string]string{"auth_req_id": "areq-1"}), http.StatusNoContent)
			synctest.Wait()
			if n := r.tokenRequests(); n != 1 {
				t.Errorf("token requests after a duplicate ping = %d, want 1", n)
			}
		})
	})
	t.Run("before Wait", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t)
			mustStatus(t, r.post(r.tok, map[string]string{"auth_req_id": "areq-1"}), http.StatusNoContent)
			tokens, err := r.p.Wait(t.Context(), started(2*time.Minute))
			if err != nil || tokens.AccessToken != "access-token-1" {
				t.Fatalf("Wait() = %+v, %v; want the tokens", tokens, err)
			}
		})
	})
	t.Run("premature ping", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t)
			r.tokenAnswer = []answer{pending, granted}
			ch := r.wait(t.Context(), started(2*time.Minute))
			mustStatus(t, r.post(r.tok, map[string]string{"auth_req_id": "areq-1"}), http.StatusNoContent)
			stillWaiting(t, ch)
			mustStatus(t, r.post(r.tok, map[string]string{"auth_req_id": "areq-1"}), http.StatusNoContent)
			if res := <-ch; res.err != nil {
				t.Fatalf("Wait() = %v", res.err)
			}
			if n := r.tokenRequests(); n != 2 {
				t.Errorf("token requests = %d, want 2", n)
			}
		})
	})
	t.Run("token endpoint unavailable", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t)
			r.tokenAnswer = []answer{unavailable, granted}
			s := started(2 * time.Minute)
			s.Interval = 3 * time.Second
			ch := r.wait(t.Context(), s)
			mustStatus(t, r.post(r.tok, map[string]string{"auth_req_id": "areq-1"}), http.StatusNoContent)
			start := time.Now()
			res := <-ch
			if res.err != nil || res.tokens.AccessToken != "access-token-1" {
				t.Fatalf("Wait() = %+v, %v; want the tokens by polling after the 503", res.tokens, res.err)
			}
			if got := time.Since(start); got != 3*time.Second {
				t.Errorf("Wait() polled after %v, want the interval of 3s", got)
			}
		})
	})
	t.Run("denied at the token endpoint", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t)
			r.tokenAnswer = []answer{denied}
			ch := r.wait(t.Context(), started(2*time.Minute))
			mustStatus(t, r.post(r.tok, map[string]string{"auth_req_id": "areq-1"}), http.StatusNoContent)
			if res := <-ch; client.ErrorCode(res.err) != client.AccessDenied {
				t.Fatalf("Wait() = %v, want access_denied", res.err)
			}
		})
	})
}

func TestReceiverAuthentication(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		ch := r.wait(t.Context(), started(2*time.Minute))
		other, _ := client.NewNotificationToken()
		for _, tok := range []string{other, "", r.tok + "x", r.tok[:len(r.tok)-1]} {
			rec := r.post(tok, map[string]string{"auth_req_id": "areq-1"})
			mustStatus(t, rec, http.StatusUnauthorized)
			if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want Bearer", got)
			}
		}
		// Another scheme with the right token is no Bearer token.
		req := httptest.NewRequest(http.MethodPost, "/cb", strings.NewReader(`{"auth_req_id":"areq-1"}`))
		req.Header.Set("Authorization", "Basic "+r.tok)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		r.recv.ServeHTTP(rec, req)
		mustStatus(t, rec, http.StatusUnauthorized)

		stillWaiting(t, ch)
		if n := r.tokenRequests(); n != 0 {
			t.Errorf("token requests after unauthenticated pings = %d, want 0", n)
		}
		// The scheme is case-insensitive (RFC 9110 §11.1).
		req = httptest.NewRequest(http.MethodPost, "/cb", strings.NewReader(`{"auth_req_id":"areq-1"}`))
		req.Header.Set("Authorization", "bearer "+r.tok)
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		rec = httptest.NewRecorder()
		r.recv.ServeHTTP(rec, req)
		mustStatus(t, rec, http.StatusNoContent)
		if res := <-ch; res.err != nil {
			t.Fatalf("Wait() = %v", res.err)
		}
	})
}

func TestReceiverRefusesRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		method      string
		contentType string
		body        string
		wantStatus  int
	}{
		{"GET", http.MethodGet, "application/json", `{"auth_req_id":"areq-1"}`, http.StatusMethodNotAllowed},
		{"PUT", http.MethodPut, "application/json", `{"auth_req_id":"areq-1"}`, http.StatusMethodNotAllowed},
		{"form body", http.MethodPost, "application/x-www-form-urlencoded", `auth_req_id=areq-1`, http.StatusBadRequest},
		{"JSON as text/plain", http.MethodPost, "text/plain", `{"auth_req_id":"areq-1"}`, http.StatusBadRequest},
		{"no content type", http.MethodPost, "", `{"auth_req_id":"areq-1"}`, http.StatusBadRequest},
		{"not JSON", http.MethodPost, "application/json", `auth_req_id`, http.StatusBadRequest},
		{"JSON array", http.MethodPost, "application/json", `["areq-1"]`, http.StatusBadRequest},
		{"no auth_req_id", http.MethodPost, "application/json", `{}`, http.StatusBadRequest},
		{"another auth_req_id", http.MethodPost, "application/json", `{"auth_req_id":"areq-2"}`, http.StatusBadRequest},
		{"error and tokens", http.MethodPost, "application/json", `{"auth_req_id":"areq-1","error":"access_denied","access_token":"x"}`, http.StatusBadRequest},
		{"incomplete push", http.MethodPost, "application/json", `{"auth_req_id":"areq-1","access_token":"x"}`, http.StatusBadRequest},
		{"oversized", http.MethodPost, "application/json", `{"auth_req_id":"areq-1","pad":"` + strings.Repeat("a", 64<<10) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t)
				ch := r.wait(t.Context(), started(2*time.Minute))
				synctest.Wait()
				rec := r.send(tt.method, r.tok, tt.contentType, []byte(tt.body))
				mustStatus(t, rec, tt.wantStatus)
				if tt.wantStatus == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != http.MethodPost {
					t.Errorf("Allow = %q, want POST", rec.Header().Get("Allow"))
				}
				stillWaiting(t, ch)
				if n := r.tokenRequests(); n != 0 {
					t.Errorf("token requests = %d, want 0", n)
				}
			})
		})
	}
}

func TestReceiverPush(t *testing.T) {
	t.Parallel()
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// body returns the notification; nil edits give a valid push.
		body func(op *fakeOP) map[string]any
	}{
		{"tampered at_hash", func(op *fakeOP) map[string]any {
			return op.pushBody("areq-1", func(c map[string]any) { c["at_hash"] = atHash("another-access-token") })
		}},
		{"no at_hash", func(op *fakeOP) map[string]any {
			return op.pushBody("areq-1", func(c map[string]any) { delete(c, "at_hash") })
		}},
		{"access token swapped", func(op *fakeOP) map[string]any {
			b := op.pushBody("areq-1", nil)
			b["access_token"] = "another-access-token"
			return b
		}},
		{"auth_req_id claim of another request", func(op *fakeOP) map[string]any {
			return op.pushBody("areq-1", func(c map[string]any) { c[claimAuthReqID] = "areq-2" })
		}},
		{"no auth_req_id claim", func(op *fakeOP) map[string]any {
			return op.pushBody("areq-1", func(c map[string]any) { delete(c, claimAuthReqID) })
		}},
		{"no rt_hash", func(op *fakeOP) map[string]any {
			return op.pushBody("areq-1", func(c map[string]any) { delete(c, claimRTHash) })
		}},
		{"rt_hash of another refresh token", func(op *fakeOP) map[string]any {
			return op.pushBody("areq-1", func(c map[string]any) { c[claimRTHash] = atHash("another-refresh-token") })
		}},
		{"refresh token swapped", func(op *fakeOP) map[string]any {
			b := op.pushBody("areq-1", nil)
			b["refresh_token"] = "another-refresh-token"
			return b
		}},
		{"body for another request", func(op *fakeOP) map[string]any {
			return op.pushBody("areq-2", nil)
		}},
		{"signed by another key under the OP's kid", func(op *fakeOP) map[string]any {
			b := op.pushBody("areq-1", nil)
			claims := op.claims(pushedAT)
			claims[claimAuthReqID] = "areq-1"
			claims[claimRTHash] = atHash(pushedRT)
			b["id_token"] = signWith(op.t, jose.ES256, otherKey, op.kid, claims)
			return b
		}},
		{"signed by an unknown key", func(op *fakeOP) map[string]any {
			b := op.pushBody("areq-1", nil)
			claims := op.claims(pushedAT)
			claims[claimAuthReqID] = "areq-1"
			claims[claimRTHash] = atHash(pushedRT)
			b["id_token"] = signWith(op.t, jose.ES256, otherKey, "attacker-key", claims)
			return b
		}},
		{"ID token for another client", func(op *fakeOP) map[string]any {
			return op.pushBody("areq-1", func(c map[string]any) { c["aud"] = "rp-2" })
		}},
		{"expired ID token", func(op *fakeOP) map[string]any {
			return op.pushBody("areq-1", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t)
				ch := r.wait(t.Context(), started(2*time.Minute))
				synctest.Wait()
				mustStatus(t, r.post(r.tok, tt.body(r.op)), http.StatusBadRequest)
				stillWaiting(t, ch)
				// The refused tokens were not kept: a valid push that
				// follows is the one Wait returns.
				valid := r.op.pushBody("areq-1", nil)
				mustStatus(t, r.post(r.tok, valid), http.StatusNoContent)
				res := <-ch
				if res.err != nil {
					t.Fatalf("Wait() = %v", res.err)
				}
				if res.tokens.IDToken != valid["id_token"] {
					t.Errorf("Wait() returned an ID token other than the valid push's")
				}
			})
		})
	}

	t.Run("valid", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t)
			ch := r.wait(t.Context(), started(2*time.Minute))
			mustStatus(t, r.post(r.tok, r.op.pushBody("areq-1", nil)), http.StatusNoContent)
			res := <-ch
			if res.err != nil {
				t.Fatalf("Wait() = %v", res.err)
			}
			tk := res.tokens
			if tk.AccessToken != pushedAT || tk.RefreshToken != pushedRT || tk.TokenType != "Bearer" ||
				tk.ExpiresIn != 10*time.Minute || !tk.Pushed || tk.Claims.Subject != "alice" ||
				tk.Claims.Claims[claimAuthReqID] != "areq-1" {
				t.Errorf("Wait() = %+v, want the pushed tokens", tk)
			}
			if n := r.tokenRequests(); n != 0 {
				t.Errorf("token requests = %d, want 0", n)
			}
			// The OP, having missed the 204, retries after a while; the
			// retry is answered 204 and ignored, though its ID token has
			// expired since.
			body := r.op.pushBody("areq-1", nil)
			time.Sleep(10 * time.Minute)
			mustStatus(t, r.post(r.tok, body), http.StatusNoContent)
		})
	})
	t.Run("before Wait", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t)
			mustStatus(t, r.post(r.tok, r.op.pushBody("areq-1", nil)), http.StatusNoContent)
			tokens, err := r.p.Wait(t.Context(), started(2*time.Minute))
			if err != nil || tokens.AccessToken != pushedAT {
				t.Fatalf("Wait() = %+v, %v; want the pushed tokens", tokens, err)
			}
		})
	})
	t.Run("early push for another request is dropped", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t)
			// Before Wait the Receiver cannot know the auth_req_id; Wait
			// drops what does not match.
			mustStatus(t, r.post(r.tok, r.op.pushBody("areq-2", nil)), http.StatusNoContent)
			ch := r.wait(t.Context(), started(2*time.Minute))
			stillWaiting(t, ch)
			mustStatus(t, r.post(r.tok, r.op.pushBody("areq-1", nil)), http.StatusNoContent)
			if res := <-ch; res.err != nil || res.tokens.Claims.Claims[claimAuthReqID] != "areq-1" {
				t.Fatalf("Wait() = %+v, %v; want the push for areq-1", res.tokens, res.err)
			}
		})
	})
	t.Run("no refresh token needs no rt_hash", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t)
			ch := r.wait(t.Context(), started(2*time.Minute))
			b := r.op.pushBody("areq-1", func(c map[string]any) { delete(c, claimRTHash) })
			delete(b, "refresh_token")
			mustStatus(t, r.post(r.tok, b), http.StatusNoContent)
			if res := <-ch; res.err != nil || res.tokens.RefreshToken != "" {
				t.Fatalf("Wait() = %+v, %v; want the pushed tokens", res.tokens, res.err)
			}
		})
	})
}

func TestReceiverPushError(t *testing.T) {
	t.Parallel()
	for _, code := range []string{client.AccessDenied, client.ExpiredToken, "transaction_failed"} {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t)
				ch := r.wait(t.Context(), started(2*time.Minute))
				mustStatus(t, r.post(r.tok, map[string]string{
					"auth_req_id":       "areq-1",
					"error":             code,
					"error_description": "it did not work out",
				}), http.StatusNoContent)
				res := <-ch
				e, ok := errors.AsType[*client.Error](res.err)
				if !ok || e.Code != code || e.Description != "it did not work out" || e.StatusCode != 0 {
					t.Fatalf("Wait() = %v, want an *Error with code %s", res.err, code)
				}
				if n := r.tokenRequests(); n != 0 {
					t.Errorf("token requests = %d, want 0", n)
				}
			})
		})
	}
}

func TestReceiverGivesUp(t *testing.T) {
	t.Parallel()
	t.Run("expiry", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t)
			start := time.Now()
			_, err := r.p.Wait(t.Context(), started(90*time.Second))
			if client.ErrorCode(err) != client.ExpiredToken {
				t.Fatalf("Wait() = %v, want expired_token", err)
			}
			if got := time.Since(start); got != 90*time.Second {
				t.Errorf("Wait() gave up after %v, want 1m30s", got)
			}
		})
	})
	t.Run("context", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if _, err := r.p.Wait(ctx, started(90*time.Second)); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait() = %v, want context.DeadlineExceeded", err)
			}
		})
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t)
			ch := r.wait(t.Context(), started(90*time.Second))
			stillWaiting(t, ch)
			r.p.Cancel()
			if res := <-ch; !errors.Is(res.err, context.Canceled) {
				t.Fatalf("Wait() = %v, want context.Canceled", res.err)
			}
			// The token is forgotten.
			mustStatus(t, r.post(r.tok, map[string]string{"auth_req_id": "areq-1"}), http.StatusUnauthorized)
		})
	})
}

// TestReceiverOverHTTP runs the whole ping flow over real sockets: the
// fake OP takes the notification token from the backchannel request and
// pings the Receiver's endpoint before the client has even read the
// acknowledgement.
func TestReceiverOverHTTP(t *testing.T) {
	t.Parallel()
	op := newFakeOP(t)
	c := op.newClient(op.config())
	recv := c.NewReceiver()
	rp := httptest.NewServer(recv)
	t.Cleanup(rp.Close)

	pinged := make(chan int, 1)
	op.authorize = func(w http.ResponseWriter, r *http.Request) {
		tok := readForm(t, r).Get("client_notification_token")
		req, _ := http.NewRequest(http.MethodPost, rp.URL, strings.NewReader(`{"auth_req_id":"areq-1"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := rp.Client().Do(req)
		if err != nil {
			t.Errorf("ping: %v", err)
			pinged <- 0
		} else {
			resp.Body.Close()
			pinged <- resp.StatusCode
		}
		writeJSON(w, http.StatusOK, map[string]any{"auth_req_id": "areq-1", "expires_in": 120})
	}

	tok, err := client.NewNotificationToken()
	if err != nil {
		t.Fatal(err)
	}
	p := recv.Expect(tok)
	defer p.Cancel()
	s, err := c.Initiate(t.Context(), client.AuthRequest{LoginHint: "alice", ClientNotificationToken: tok})
	if err != nil {
		t.Fatalf("Initiate() = %v", err)
	}
	if status := <-pinged; status != http.StatusNoContent {
		t.Fatalf("ping status = %d, want 204", status)
	}
	tokens, err := p.Wait(t.Context(), s)
	if err != nil {
		t.Fatalf("Wait() = %v", err)
	}
	if tokens.AccessToken != "access-token-1" || tokens.Claims.Subject != "alice" {
		t.Errorf("Wait() = %+v, want the token endpoint's tokens", tokens)
	}
}
