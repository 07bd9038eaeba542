package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel/store"
)

func testRequestRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := fullRequest("r1", "alice")
	must(t, s.CreateRequest(ctx, want))
	must(t, s.CreateRequest(ctx, fullRequest("r2", "alice")))

	got, err := s.Request(ctx, "r1")
	if err != nil {
		t.Fatalf(`Request("r1") = %v`, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf(`Request("r1") mismatch (-want +got):\n%s`, d)
	}
	got, err = s.RequestByAuthReqHash(ctx, want.AuthReqHash)
	if err != nil {
		t.Fatalf("RequestByAuthReqHash(r1's hash) = %v", err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("RequestByAuthReqHash(r1's hash) mismatch (-want +got):\n%s", d)
	}
}

func testRequestMissing(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateRequest(ctx, fullRequest("r1", "alice")))
	_, err := s.Request(ctx, "nothing")
	wantErr(t, `Request("nothing")`, err, store.ErrNotFound)
	_, err = s.RequestByAuthReqHash(ctx, hash("nothing"))
	wantErr(t, "RequestByAuthReqHash(unknown)", err, store.ErrNotFound)
	_, err = s.RequestByAuthReqHash(ctx, nil)
	wantErr(t, "RequestByAuthReqHash(nil)", err, store.ErrNotFound)
	called := false
	_, err = s.UpdateRequest(ctx, "nothing", func(*store.Request) (store.Effects, error) {
		called = true
		return store.Effects{}, nil
	})
	wantErr(t, `UpdateRequest("nothing")`, err, store.ErrNotFound)
	if called {
		t.Errorf(`UpdateRequest("nothing") called decide`)
	}
	_, err = s.Token(ctx, hash("nothing"))
	wantErr(t, "Token(unknown)", err, store.ErrNotFound)
}

func testRequestDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := fullRequest("r1", "alice")
	must(t, s.CreateRequest(ctx, want))

	sameID := fullRequest("r2", "bob")
	sameID.ID = "r1"
	wantErr(t, `CreateRequest("r1") again`, s.CreateRequest(ctx, sameID), store.ErrConflict)
	sameHash := fullRequest("r2", "bob")
	sameHash.AuthReqHash = want.AuthReqHash
	wantErr(t, "CreateRequest(r2 with r1's auth_req_id hash)", s.CreateRequest(ctx, sameHash), store.ErrConflict)

	_, err := s.Request(ctx, "r2")
	wantErr(t, `Request("r2") after a conflicting create`, err, store.ErrNotFound)
	got, err := s.Request(ctx, "r1")
	if err != nil {
		t.Fatalf(`Request("r1") = %v`, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Request after conflicting creates changed (-want +got):\n%s", d)
	}
}

// decided returns r as a device's approval changes it.
func decided(r store.Request) store.Request {
	r.State = store.Approved
	r.Scopes = []string{"openid"}
	r.ACRValues = []string{"urn:example:acr:low"}
	r.Binding = "changed binding"
	r.AuthReqHash = hash("another auth_req_id")
	r.NotificationToken = ""
	r.AuthReqID = ""
	r.ClientID = "client-2"
	r.Subject = "bob"
	r.DeliveryMode = store.Poll
	r.CreatedAt = at(time.Second)
	r.ExpiresAt = at(10 * time.Minute)
	r.Interval = 10 * time.Second
	r.NextPollAt = at(20 * time.Second)
	r.DecidedAt = at(90 * time.Second)
	r.DeviceID = "device-2"
	r.ACR = "urn:example:acr:low"
	r.AMR = []string{"pin"}
	r.Decision = "eyJhbGciOiJFUzI1NiJ9.eyJkZWNpc2lvbiI6ImRlbnkifQ.c2ln"
	return r
}

func testUpdateRequest(t *testing.T, s store.Store) {
	ctx := t.Context()
	before := fullRequest("r1", "alice")
	before.State = store.Pending
	before.DecidedAt, before.DeviceID, before.ACR, before.AMR, before.Decision = time.Time{}, "", "", nil, ""
	must(t, s.CreateRequest(ctx, before))
	must(t, s.CreateRequest(ctx, fullRequest("r2", "alice")))

	want := decided(before)
	tokens := []store.Token{fullToken("access", "r1"), fullToken("refresh", "r1")}
	tokens[0].Kind = store.AccessToken
	got, err := s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
		if d := diff(before, *r); d != "" {
			t.Errorf("UpdateRequest passed decide a request that differs from the stored one (-want +got):\n%s", d)
		}
		*r = want
		return store.Effects{Tokens: tokens}, nil
	})
	if err != nil {
		t.Fatalf(`UpdateRequest("r1") = %v`, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("UpdateRequest returned (-want +got):\n%s", d)
	}
	got, err = s.Request(ctx, "r1")
	if err != nil {
		t.Fatalf(`Request("r1") = %v`, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Request after UpdateRequest (-want +got):\n%s", d)
	}
	got, err = s.RequestByAuthReqHash(ctx, want.AuthReqHash)
	if err != nil || got.ID != "r1" {
		t.Errorf("RequestByAuthReqHash(new hash) = %q, %v, want r1", got.ID, err)
	}
	_, err = s.RequestByAuthReqHash(ctx, before.AuthReqHash)
	wantErr(t, "RequestByAuthReqHash(old hash)", err, store.ErrNotFound)
	for _, tok := range tokens {
		got, err := s.Token(ctx, tok.Hash)
		if err != nil {
			t.Fatalf("Token(%s) = %v", tok.Kind, err)
		}
		if d := diff(tok, got); d != "" {
			t.Errorf("Token(%s) mismatch (-want +got):\n%s", tok.Kind, d)
		}
	}
	// The other request is unchanged.
	got, err = s.Request(ctx, "r2")
	if err != nil {
		t.Fatalf(`Request("r2") = %v`, err)
	}
	if d := diff(fullRequest("r2", "alice"), got); d != "" {
		t.Errorf("other request changed (-want +got):\n%s", d)
	}
}

// decideError is an error type a decide function returns; the suite
// checks that callers can still find it with errors.As.
type decideError struct{ reason string }

// testUpdateRequestOneField changes one field per UpdateRequest, some in
// place, and checks that each change is saved and nothing else moves.
func testUpdateRequestOneField(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := fullRequest("r1", "alice")
	must(t, s.CreateRequest(ctx, want))
	must(t, s.CreateRequest(ctx, fullRequest("r2", "alice")))
	changes := []struct {
		name   string
		change func(r *store.Request)
	}{
		{"nothing", func(*store.Request) {}},
		{"next poll", func(r *store.Request) { r.NextPollAt = at(7 * time.Second) }},
		{"interval", func(r *store.Request) { r.Interval = 10 * time.Second }},
		{"scope in place", func(r *store.Request) { r.Scopes[1] = "email" }},
		{"auth_req_id hash in place", func(r *store.Request) { r.AuthReqHash[0] ^= 0xff }},
		{"state", func(r *store.Request) { r.State = store.Approved }},
		{"decided at cleared", func(r *store.Request) { r.DecidedAt = time.Time{} }},
		{"amr emptied", func(r *store.Request) { r.AMR = nil }},
		{"authorization details removed", func(r *store.Request) { r.AuthorizationDetails = nil }},
		{"subject", func(r *store.Request) { r.Subject = "bob" }},
	}
	for _, c := range changes {
		got, err := s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
			c.change(r)
			return store.Effects{}, nil
		})
		if err != nil {
			t.Fatalf("UpdateRequest changing %s = %v", c.name, err)
		}
		c.change(&want)
		if d := diff(want, got); d != "" {
			t.Errorf("UpdateRequest changing %s returned (-want +got):\n%s", c.name, d)
		}
		got, err = s.Request(ctx, "r1")
		if err != nil {
			t.Fatalf("Request after changing %s = %v", c.name, err)
		}
		if d := diff(want, got); d != "" {
			t.Errorf("Request after changing %s (-want +got):\n%s", c.name, d)
		}
	}
	if got, err := s.RequestByAuthReqHash(ctx, want.AuthReqHash); err != nil || got.ID != "r1" {
		t.Errorf("RequestByAuthReqHash(changed hash) = %q, %v, want r1", got.ID, err)
	}
	other, err := s.Request(ctx, "r2")
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(fullRequest("r2", "alice"), other); d != "" {
		t.Errorf("the other request changed (-want +got):\n%s", d)
	}
}

func (e *decideError) Error() string { return "storetest: " + e.reason }

func testUpdateRequestDecideError(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := fullRequest("r1", "alice")
	must(t, s.CreateRequest(ctx, want))
	tok := fullToken("access", "r1")
	got, err := s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
		r.State = store.Redeemed
		r.Interval = time.Hour
		return store.Effects{Tokens: []store.Token{tok}}, &decideError{"too early"}
	})
	var de *decideError
	if !errors.As(err, &de) || de.reason != "too early" {
		t.Errorf("UpdateRequest with a failing decide = %v, want the *decideError", err)
	}
	if got.ID != "r1" || got.State != store.Redeemed || got.Interval != time.Hour {
		t.Errorf("UpdateRequest with a failing decide returned %+v, want the request as decide left it", got)
	}

	got, err = s.Request(ctx, "r1")
	if err != nil {
		t.Fatalf(`Request("r1") = %v`, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Request after a failed decide (-want +got):\n%s", d)
	}
	_, err = s.Token(ctx, tok.Hash)
	wantErr(t, "Token issued by a failed decide", err, store.ErrNotFound)

	_, err = s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
		return store.Effects{}, fmt.Errorf("wrapped: %w", errTestChange)
	})
	wantErr(t, "UpdateRequest with a failing decide", err, errTestChange)
}

func testUpdateRequestDuplicateToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	r1 := fullRequest("r1", "alice")
	must(t, s.CreateRequest(ctx, r1))
	must(t, s.CreateRequest(ctx, fullRequest("r2", "alice")))
	first := fullToken("first", "r1")
	_, err := s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
		return store.Effects{Tokens: []store.Token{first}}, nil
	})
	must(t, err)

	// A hash that exists already.
	r2 := fullRequest("r2", "alice")
	fresh := fullToken("fresh", "r2")
	dup := fullToken("first", "r2")
	_, err = s.UpdateRequest(ctx, "r2", func(r *store.Request) (store.Effects, error) {
		r.State = store.Redeemed
		return store.Effects{Tokens: []store.Token{fresh, dup}}, nil
	})
	wantErr(t, "UpdateRequest issuing an existing token hash", err, store.ErrConflict)

	// The same hash twice in one Effects.
	again := fullToken("again", "r2")
	_, err = s.UpdateRequest(ctx, "r2", func(r *store.Request) (store.Effects, error) {
		r.State = store.Redeemed
		return store.Effects{Tokens: []store.Token{again, again}}, nil
	})
	wantErr(t, "UpdateRequest issuing one token hash twice", err, store.ErrConflict)

	got, err := s.Request(ctx, "r2")
	if err != nil {
		t.Fatalf(`Request("r2") = %v`, err)
	}
	if d := diff(r2, got); d != "" {
		t.Errorf("Request after failed updates (-want +got):\n%s", d)
	}
	for _, name := range []string{"fresh", "again"} {
		_, err = s.Token(ctx, hash(name))
		wantErr(t, fmt.Sprintf("Token(%q) of a failed update", name), err, store.ErrNotFound)
	}
	got2, err := s.Token(ctx, first.Hash)
	if err != nil {
		t.Fatalf("Token(first) = %v", err)
	}
	if d := diff(first, got2); d != "" {
		t.Errorf("existing token changed (-want +got):\n%s", d)
	}
}

func testUpdateRequestSerialized(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := fullRequest("r1", "alice")
	r.Interval = 0
	must(t, s.CreateRequest(ctx, r))
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
				r.Interval += time.Second // slow_down, say
				return store.Effects{}, nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("UpdateRequest #%d = %v", i, err)
		}
	}
	got, err := s.Request(ctx, "r1")
	if err != nil {
		t.Fatalf(`Request("r1") = %v`, err)
	}
	if got.Interval != n*time.Second {
		t.Errorf("Interval after %d concurrent increments = %v, want %v", n, got.Interval, n*time.Second)
	}
}

var errAlreadyRedeemed = errors.New("storetest: already redeemed")

func testRedeemExactlyOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := fullRequest("r1", "alice")
	r.State = store.Approved
	must(t, s.CreateRequest(ctx, r))
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
				if r.State != store.Approved {
					return store.Effects{}, errAlreadyRedeemed
				}
				r.State = store.Redeemed
				return store.Effects{Tokens: []store.Token{fullToken(fmt.Sprint("token ", i), "r1")}}, nil
			})
		})
	}
	wg.Wait()
	if w := wins(t, errs, errAlreadyRedeemed); w != 1 {
		t.Fatalf("request redeemed %d times, want 1", w)
	}
	got, err := s.Request(ctx, "r1")
	if err != nil {
		t.Fatalf(`Request("r1") = %v`, err)
	}
	if got.State != store.Redeemed {
		t.Errorf("State = %q, want %q", got.State, store.Redeemed)
	}
	for i := range n {
		_, err := s.Token(ctx, hash(fmt.Sprint("token ", i)))
		if won := errs[i] == nil; won != (err == nil) {
			t.Errorf("redeemer %d: won = %v, but Token() = %v", i, won, err)
		}
	}
}

func testPendingRequests(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Hour)
	req := func(id, sub string, state store.State, created, expires time.Duration) store.Request {
		r := fullRequest(id, sub)
		r.State = state
		r.CreatedAt = at(created)
		r.ExpiresAt = at(expires)
		return r
	}
	all := []store.Request{
		req("newer", "alice", store.Pending, 50*time.Minute, 2*time.Hour),
		req("older", "alice", store.Pending, 40*time.Minute, 2*time.Hour),
		req("newest", "alice", store.Pending, 55*time.Minute, time.Hour+time.Microsecond),
		req("expired", "alice", store.Pending, 10*time.Minute, 59*time.Minute),
		req("expires-now", "alice", store.Pending, 20*time.Minute, time.Hour),
		req("approved", "alice", store.Approved, 30*time.Minute, 2*time.Hour),
		req("denied", "alice", store.Denied, 30*time.Minute, 2*time.Hour),
		req("redeemed", "alice", store.Redeemed, 30*time.Minute, 2*time.Hour),
		req("bobs", "bob", store.Pending, 30*time.Minute, 2*time.Hour),
	}
	for _, r := range all {
		must(t, s.CreateRequest(ctx, r))
	}
	got, err := s.PendingRequests(ctx, "alice", now)
	if err != nil {
		t.Fatalf("PendingRequests(alice) = %v", err)
	}
	if d := diff([]store.Request{all[1], all[0], all[2]}, got); d != "" {
		t.Errorf("PendingRequests(alice) mismatch (-want +got):\n%s", d)
	}
	got, err = s.PendingRequests(ctx, "carol", now)
	if err != nil || got != nil {
		t.Errorf("PendingRequests(carol) = %v, %v, want nil, nil", got, err)
	}
}

// testDecidePanic checks that a panicking decide leaves the request as it
// was and the store usable: the panic must not leave a transaction (and
// its locks) behind.
func testDecidePanic(t *testing.T, s store.Store) {
	want := fullRequest("r1", "alice")
	must(t, s.CreateRequest(t.Context(), want))
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("UpdateRequest did not pass on the panic of decide")
			}
		}()
		s.UpdateRequest(t.Context(), "r1", func(r *store.Request) (store.Effects, error) {
			r.State = store.Denied
			panic("storetest: decide panics")
		})
	}()
	got, err := s.Request(t.Context(), "r1")
	if err != nil {
		t.Fatalf(`Request("r1") = %v`, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Request after a panicking decide (-want +got):\n%s", d)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
		r.State = store.Approved
		return store.Effects{}, nil
	})
	if err != nil {
		t.Errorf("UpdateRequest after a panicking decide = %v, want nil", err)
	}
}

func testExpiringRequests(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Hour)
	req := func(id string, mode store.DeliveryMode, state store.State, expires time.Time) store.Request {
		r := fullRequest(id, "alice")
		r.DeliveryMode = mode
		r.State = state
		r.CreatedAt = at(-time.Hour)
		r.ExpiresAt = expires
		return r
	}
	all := []store.Request{
		req("ping-late", store.Ping, store.Pending, at(50*time.Minute)),
		req("push-early", store.Push, store.Pending, at(10*time.Minute)),
		req("ping-now", store.Ping, store.Pending, now),
		req("ping-no-expiry", store.Ping, store.Pending, time.Time{}), // zero: before every time
		req("push-middle", store.Push, store.Pending, at(30*time.Minute)),
		req("ping-future", store.Ping, store.Pending, now.Add(time.Microsecond)),
		req("poll-expired", store.Poll, store.Pending, at(time.Minute)),
		req("ping-approved", store.Ping, store.Approved, at(time.Minute)),
		req("ping-denied", store.Ping, store.Denied, at(time.Minute)),
		req("push-redeemed", store.Push, store.Redeemed, at(time.Minute)),
		req("ping-expired", store.Ping, store.Expired, at(time.Minute)),
	}
	// Created in an order unlike the expected one.
	for _, r := range all {
		must(t, s.CreateRequest(ctx, r))
	}
	want := []store.Request{all[3], all[1], all[4], all[0], all[2]}
	for _, tt := range []struct {
		limit int
		want  []store.Request
	}{
		{10, want},
		{5, want},
		{2, want[:2]},
		{1, want[:1]},
		{0, nil},
		{-1, nil},
	} {
		got, err := s.ExpiringRequests(ctx, now, tt.limit)
		if err != nil {
			t.Fatalf("ExpiringRequests(now, %d) = %v", tt.limit, err)
		}
		if d := diff(tt.want, got); d != "" {
			t.Errorf("ExpiringRequests(now, %d) mismatch (-want +got):\n%s", tt.limit, d)
		}
	}
	got, err := s.ExpiringRequests(ctx, at(-time.Hour), 10)
	if err != nil {
		t.Fatalf("ExpiringRequests(long ago) = %v", err)
	}
	if d := diff(want[:1], got); d != "" {
		t.Errorf("ExpiringRequests(long ago) mismatch (-want +got):\n%s", d)
	}

	// Once handled, a request is no longer listed.
	_, err = s.UpdateRequest(ctx, "push-early", func(r *store.Request) (store.Effects, error) {
		r.State, r.NotificationToken, r.AuthReqID = store.Expired, "", ""
		return store.Effects{}, nil
	})
	must(t, err)
	got, err = s.ExpiringRequests(ctx, now, 2)
	if err != nil {
		t.Fatalf("ExpiringRequests(now, 2) after handling one = %v", err)
	}
	if d := diff([]store.Request{want[0], want[2]}, got); d != "" {
		t.Errorf("ExpiringRequests(now, 2) after handling one mismatch (-want +got):\n%s", d)
	}
}
