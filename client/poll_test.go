package client_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/client"
)

// answer is one scripted token endpoint response.
type answer func(op *fakeOP, w http.ResponseWriter)

func pending(_ *fakeOP, w http.ResponseWriter) {
	writeOAuthError(w, http.StatusBadRequest, client.AuthorizationPending, "")
}

func slowDown(_ *fakeOP, w http.ResponseWriter) {
	writeOAuthError(w, http.StatusBadRequest, client.SlowDown, "")
}

func denied(_ *fakeOP, w http.ResponseWriter) {
	writeOAuthError(w, http.StatusBadRequest, client.AccessDenied, "the user denied the request")
}

func expired(_ *fakeOP, w http.ResponseWriter) {
	writeOAuthError(w, http.StatusBadRequest, client.ExpiredToken, "")
}

func unavailable(_ *fakeOP, w http.ResponseWriter) {
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write([]byte("overloaded"))
}

func temporarilyUnavailable(_ *fakeOP, w http.ResponseWriter) {
	writeOAuthError(w, http.StatusBadRequest, client.TemporarilyUnavailable, "")
}

func granted(op *fakeOP, w http.ResponseWriter) { op.writeTokens(w) }

func TestPoll(t *testing.T) {
	t.Parallel()
	sec := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Second
		}
		return out
	}
	tests := []struct {
		name      string
		interval  any // the interval member of the acknowledgement; nil: absent
		expiresIn int
		timeout   time.Duration // of the Poll context; 0: none
		answers   []answer      // the last one repeats
		wantPolls []time.Duration
		wantCode  string // empty: Poll returns tokens
		wantCtx   error  // Poll returns this context error
	}{
		{
			name:      "pending then tokens",
			interval:  2,
			expiresIn: 120,
			answers:   []answer{pending, pending, granted},
			wantPolls: sec(2, 4, 6),
		},
		{
			name:      "default interval of 5 s",
			expiresIn: 120,
			answers:   []answer{pending, granted},
			wantPolls: sec(5, 10),
		},
		{
			name:      "slow_down adds 5 s for good",
			interval:  2,
			expiresIn: 120,
			answers:   []answer{pending, slowDown, pending, slowDown, granted},
			wantPolls: sec(2, 4, 11, 18, 30),
		},
		{
			name:      "back off on 503 and temporarily_unavailable",
			interval:  2,
			expiresIn: 120,
			answers:   []answer{unavailable, temporarilyUnavailable, unavailable, pending, granted},
			wantPolls: sec(2, 6, 14, 30, 32),
		},
		{
			name:      "denied",
			interval:  2,
			expiresIn: 120,
			answers:   []answer{pending, denied},
			wantPolls: sec(2, 4),
			wantCode:  client.AccessDenied,
		},
		{
			name:      "expired at the OP",
			interval:  2,
			expiresIn: 120,
			answers:   []answer{pending, expired},
			wantPolls: sec(2, 4),
			wantCode:  client.ExpiredToken,
		},
		{
			name:      "still pending after expiry",
			interval:  2,
			expiresIn: 5,
			answers:   []answer{pending},
			wantPolls: sec(2, 4, 6),
			wantCode:  client.ExpiredToken,
		},
		{
			name:      "context ends",
			interval:  2,
			expiresIn: 120,
			timeout:   5 * time.Second,
			answers:   []answer{pending},
			wantPolls: sec(2, 4),
			wantCtx:   context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				op := newMemoryOP(t)
				start := time.Now()
				var polls []time.Duration
				op.authorize = func(w http.ResponseWriter, r *http.Request) {
					ack := map[string]any{"auth_req_id": "areq-1", "expires_in": tt.expiresIn}
					if tt.interval != nil {
						ack["interval"] = tt.interval
					}
					writeJSON(w, http.StatusOK, ack)
				}
				op.token = func(w http.ResponseWriter, r *http.Request) {
					if got := readForm(t, r).Get("auth_req_id"); got != "areq-1" {
						t.Errorf("auth_req_id = %q", got)
					}
					polls = append(polls, time.Since(start))
					tt.answers[min(len(polls), len(tt.answers))-1](op, w)
				}
				c := op.newClient(op.config())
				ctx := t.Context()
				if tt.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.timeout)
					defer cancel()
				}
				started, err := c.Initiate(ctx, client.AuthRequest{LoginHint: "alice"})
				if err != nil {
					t.Fatalf("Initiate() = %v", err)
				}
				tokens, err := c.Poll(ctx, started)

				if diff := cmp.Diff(tt.wantPolls, polls); diff != "" {
					t.Errorf("poll times (-want +got):\n%s", diff)
				}
				switch {
				case tt.wantCtx != nil:
					if !errors.Is(err, tt.wantCtx) {
						t.Errorf("Poll() = %v, want %v", err, tt.wantCtx)
					}
				case tt.wantCode != "":
					var e *client.Error
					if !errors.As(err, &e) || e.Code != tt.wantCode {
						t.Errorf("Poll() = %v, want a *client.Error with code %s", err, tt.wantCode)
					}
				default:
					if err != nil {
						t.Fatalf("Poll() = %v", err)
					}
					want := &client.Tokens{
						AccessToken:  "access-token-1",
						TokenType:    "Bearer",
						RefreshToken: "refresh-token-1",
						Scope:        "openid profile",
						ExpiresIn:    10 * time.Minute,
					}
					got := *tokens
					got.IDToken, got.Claims, got.Raw = "", nil, nil
					if diff := cmp.Diff(want, &got); diff != "" {
						t.Errorf("Poll() (-want +got):\n%s", diff)
					}
					if tokens.Claims == nil || tokens.Claims.Subject != "alice" || tokens.Raw["refresh_token"] != "refresh-token-1" {
						t.Errorf("Poll().Claims = %+v, Raw = %v", tokens.Claims, tokens.Raw)
					}
				}
			})
		})
	}
}

// TestPollUnverifiedIDToken checks that Poll stops, without tokens, when
// the ID token does not verify.
func TestPollUnverifiedIDToken(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		op := newMemoryOP(t)
		op.token = func(w http.ResponseWriter, r *http.Request) {
			claims := op.claims("")
			claims["iss"] = "https://evil.example"
			writeJSON(w, http.StatusOK, map[string]any{"access_token": "at", "token_type": "Bearer", "id_token": op.sign(claims)})
		}
		c := op.newClient(op.config())
		tokens, err := c.Poll(t.Context(), client.Started{AuthReqID: "areq-1", Interval: time.Second})
		if err == nil {
			t.Fatalf("Poll() = %+v, want an ID token error", tokens)
		}
	})
}
