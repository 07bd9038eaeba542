package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/httpapi"
	"github.com/backchannel/backchannel/store"
)

// TestPollSchedule checks slow_down with the poll schedule in memory
// (serve on SQLite: a poll on time writes nothing) and saved in the store
// (instances sharing PostgreSQL): the same answers either way.
func TestPollSchedule(t *testing.T) {
	for _, tt := range []struct {
		name   string
		stored bool
	}{{"in memory", false}, {"stored", true}} {
		t.Run(tt.name, func(t *testing.T) {
			s := startTestServer(t, testOptions{storedPolls: tt.stored})
			id, secret := s.createClient(nil)
			s.createUser(map[string]any{"sub": "u1"})
			f := &flow{testServer: s, clientID: id, secret: secret}
			f.enrolDevice("u1")
			r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}})
			if r.status != http.StatusOK {
				t.Fatalf("bc-authorize = %d %v", r.status, r.body)
			}
			authReqID := r.str("auth_req_id")
			created := f.pendingRequest(t)

			f.clock.Advance(5 * time.Second)
			wantError(t, f.poll(authReqID), http.StatusBadRequest, "authorization_pending")
			saved := f.pendingRequest(t)
			if wrote := !saved.NextPollAt.Equal(created.NextPollAt); wrote != tt.stored {
				t.Errorf("NextPollAt after a poll on time = %v (created with %v): written %v, want %v", saved.NextPollAt, created.NextPollAt, wrote, tt.stored)
			}
			// 2 s after the last poll is early, though the stored
			// NextPollAt has passed when it is kept in memory.
			f.clock.Advance(2 * time.Second)
			wantError(t, f.poll(authReqID), http.StatusBadRequest, "slow_down")
			if got := f.pendingRequest(t).Interval; got != 10*time.Second {
				t.Errorf("Interval after slow_down = %v, want 10s saved", got)
			}
			// The interval is 10 s now: 6 s later is early again (15 s).
			f.clock.Advance(6 * time.Second)
			wantError(t, f.poll(authReqID), http.StatusBadRequest, "slow_down")
			f.clock.Advance(15 * time.Second)
			wantError(t, f.poll(authReqID), http.StatusBadRequest, "authorization_pending")

			// Polls that arrive together, after the interval: exactly one
			// is on time.
			f.clock.Advance(20 * time.Second)
			const n = 8
			answers := make([]response, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { answers[i] = f.poll(authReqID) })
			}
			wg.Wait()
			pending := 0
			for _, a := range answers {
				switch a.str("error") {
				case "authorization_pending":
					pending++
				case "slow_down":
				default:
					t.Errorf("concurrent poll = %d %v, want authorization_pending or slow_down", a.status, a.body)
				}
			}
			if pending != 1 {
				t.Errorf("%d of %d concurrent polls were on time, want exactly 1", pending, n)
			}
		})
	}
}

// TestPollScheduleAcrossInstances polls one request through two servers
// on one database with the schedule saved in the store, as instances
// sharing PostgreSQL run: a poll early by the other instance's last poll
// gets slow_down.
func TestPollScheduleAcrossInstances(t *testing.T) {
	db := filepath.Join(t.TempDir(), "shared.db")
	a := startTestServer(t, testOptions{dbPath: db, storedPolls: true})
	b := startTestServer(t, testOptions{dbPath: db, storedPolls: true})
	id, secret := a.createClient(nil)
	a.createUser(map[string]any{"sub": "u1"})
	fa := &flow{testServer: a, clientID: id, secret: secret}
	fb := &flow{testServer: b, clientID: id, secret: secret}
	fa.enrolDevice("u1")
	r := fa.start(url.Values{"scope": {"openid"}, "login_hint": {"u1"}})
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	authReqID := r.str("auth_req_id")
	for _, c := range []*clock{a.clock, b.clock} {
		c.Advance(5 * time.Second)
	}
	wantError(t, fa.poll(authReqID), http.StatusBadRequest, "authorization_pending")
	for _, c := range []*clock{a.clock, b.clock} {
		c.Advance(2 * time.Second)
	}
	wantError(t, fb.poll(authReqID), http.StatusBadRequest, "slow_down")
	for _, c := range []*clock{a.clock, b.clock} {
		c.Advance(10 * time.Second)
	}
	wantError(t, fa.poll(authReqID), http.StatusBadRequest, "authorization_pending")
}

// pendingRequest returns the one request of the flow's user u1 that is
// pending, as stored.
func (f *flow) pendingRequest(t *testing.T) store.Request {
	t.Helper()
	rs, err := f.store.PendingRequests(t.Context(), "u1", f.clock.Now())
	if err != nil || len(rs) != 1 {
		t.Fatalf("PendingRequests(u1) = %d requests, %v; want 1", len(rs), err)
	}
	return rs[0]
}

// approvingStore approves request target inside the next UpdateRequest
// of it, just before the caller's own load-decide-save: the request was
// pending when the caller read it and is approved when it writes.
type approvingStore struct {
	store.Store
	target *atomic.Pointer[string]
	now    func() time.Time
}

func (s approvingStore) UpdateRequest(ctx context.Context, id string, decide func(*store.Request) (store.Effects, error)) (store.Request, error) {
	if t := s.target.Load(); t != nil && *t == id && s.target.CompareAndSwap(t, nil) {
		_, err := s.Store.UpdateRequest(ctx, id, func(r *store.Request) (store.Effects, error) {
			r.State, r.DecidedAt, r.ACR, r.AMR = store.Approved, s.now(), ciba.ACRDeviceKey, []string{"hwk", "user"}
			return store.Effects{}, nil
		})
		if err != nil {
			return store.Request{}, err
		}
	}
	return s.Store.UpdateRequest(ctx, id, decide)
}

// TestPollApprovedMeanwhile checks a poll that read the request pending
// and finds it approved when it writes, as happens when instances share
// PostgreSQL: the tokens are issued then, with the user's claims.
func TestPollApprovedMeanwhile(t *testing.T) {
	target := &atomic.Pointer[string]{}
	var clk *clock
	s := startTestServer(t, testOptions{storedPolls: true, deps: func(d *httpapi.Deps) {
		d.CIBA.Store = approvingStore{Store: d.CIBA.Store, target: target, now: func() time.Time { return clk.Now() }}
	}})
	clk = s.clock
	id, secret := s.createClient(nil)
	s.createUser(map[string]any{"sub": "u1", "email": "hana@example.jp"})
	f := &flow{testServer: s, clientID: id, secret: secret}
	f.enrolDevice("u1")
	r := f.start(url.Values{"scope": {"openid email"}, "login_hint": {"u1"}})
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	s.clock.Advance(5 * time.Second)
	reqID := f.pendingRequest(t).ID
	target.Store(&reqID)
	tok := f.poll(r.str("auth_req_id"))
	if tok.status != http.StatusOK {
		t.Fatalf("poll of a request approved meanwhile = %d %v, want 200", tok.status, tok.body)
	}
	if target.Load() != nil {
		t.Fatal("the poll did not go through the approving store")
	}
	claims := verifyIDToken(t, s, tok.str("id_token"))
	if claims["email"] != "hana@example.jp" || claims["acr"] != ciba.ACRDeviceKey {
		t.Errorf("id_token email, acr = %v, %v; want hana@example.jp, %s", claims["email"], claims["acr"], ciba.ACRDeviceKey)
	}
	wantError(t, f.poll(r.str("auth_req_id")), http.StatusBadRequest, "invalid_grant")
}
