package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel/store"
)

func testUseOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	long := strings.Repeat("jti-ü-", 50) // 350 bytes, not ASCII
	for _, key := range []string{"jti-1", "jti-2", long, "https://rp.example|jti-1"} {
		if err := s.UseOnce(ctx, key, exp); err != nil {
			t.Errorf("UseOnce(%q) = %v, want nil", key, err)
		}
	}
	for _, key := range []string{"jti-1", long} {
		wantErr(t, fmt.Sprintf("UseOnce(%.10q…) again", key), s.UseOnce(ctx, key, exp), store.ErrConflict)
	}
	wantErr(t, "UseOnce(jti-2) again, later expiry", s.UseOnce(ctx, "jti-2", exp.Add(time.Hour)), store.ErrConflict)
	wantErr(t, "UseOnce(jti-2) again, past expiry", s.UseOnce(ctx, "jti-2", time.Now().Add(-time.Hour)), store.ErrConflict)
}

func testUseOnceAfterExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Recorded until a time that has passed: usable again, and recorded
	// anew with the later expiry.
	must(t, s.UseOnce(ctx, "jti", time.Now().Add(-time.Second)))
	if err := s.UseOnce(ctx, "jti", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("UseOnce after expiry = %v, want nil", err)
	}
	wantErr(t, "UseOnce a third time", s.UseOnce(ctx, "jti", time.Now().Add(time.Hour)), store.ErrConflict)

	// A short expiry, waited out.
	must(t, s.UseOnce(ctx, "short", time.Now().Add(50*time.Millisecond)))
	wantErr(t, "UseOnce(short) before expiry", s.UseOnce(ctx, "short", time.Now().Add(time.Hour)), store.ErrConflict)
	time.Sleep(100 * time.Millisecond)
	if err := s.UseOnce(ctx, "short", time.Now().Add(time.Hour)); err != nil {
		t.Errorf("UseOnce(short) after expiry = %v, want nil", err)
	}
}

func testUseOnceConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 16
	errs := make([]error, n)
	exp := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = s.UseOnce(ctx, "jti", exp) })
	}
	wg.Wait()
	if w := wins(t, errs, store.ErrConflict); w != 1 {
		t.Errorf("key used %d times, want 1", w)
	}
}

func testTimesAreUTC(t *testing.T, s store.Store) {
	ctx := t.Context()
	zone := time.FixedZone("UTC+5:30", 5*3600+30*60)
	c := fullClient("a")
	c.CreatedAt = c.CreatedAt.In(zone)
	must(t, s.CreateClient(ctx, c))
	r := fullRequest("r1", "alice")
	r.ExpiresAt = r.ExpiresAt.In(zone)
	r.NextPollAt = r.NextPollAt.In(zone)
	must(t, s.CreateRequest(ctx, r))

	gotc, err := s.Client(ctx, "a")
	if err != nil {
		t.Fatalf(`Client("a") = %v`, err)
	}
	if d := diff(fullClient("a"), gotc); d != "" {
		t.Errorf("Client with a non-UTC time (-want +got):\n%s", d)
	}
	gotr, err := s.Request(ctx, "r1")
	if err != nil {
		t.Fatalf(`Request("r1") = %v`, err)
	}
	if d := diff(fullRequest("r1", "alice"), gotr); d != "" {
		t.Errorf("Request with non-UTC times (-want +got):\n%s", d)
	}
	tok := fullToken("tok", "r1")
	zoned := tok
	for _, p := range []*time.Time{&zoned.AuthTime, &zoned.IssuedAt, &zoned.ExpiresAt, &zoned.UsedAt, &zoned.RevokedAt} {
		*p = p.In(zone)
	}
	o := fullOutbound("o1", "r1")
	zonedOut := o
	for _, p := range []*time.Time{&zonedOut.NextAttemptAt, &zonedOut.ExpiresAt, &zonedOut.CreatedAt, &zonedOut.DoneAt} {
		*p = p.In(zone)
	}
	_, err = s.UpdateRequest(ctx, "r1", func(*store.Request) (store.Effects, error) {
		return store.Effects{Tokens: []store.Token{zoned}, Outbound: []store.Outbound{zonedOut}}, nil
	})
	must(t, err)
	wantToken(t, s, tok)
	wantOutbound(t, s, o)
	claimedOut, err := s.ClaimOutbound(ctx, o.NextAttemptAt.In(zone), time.Minute, 1)
	if err != nil {
		t.Fatalf("ClaimOutbound = %v", err)
	}
	if d := diff([]store.Outbound{claimed(o, o.NextAttemptAt, time.Minute)}, claimedOut); d != "" {
		t.Errorf("ClaimOutbound with a non-UTC now (-want +got):\n%s", d)
	}
	must(t, s.FinishOutbound(ctx, "o1", store.Delivered, at(time.Hour).In(zone), ""))
	if got, err := s.Outbound(ctx, "o1"); err != nil || got.DoneAt.Location() != time.UTC || !got.DoneAt.Equal(at(time.Hour)) {
		t.Errorf("Outbound.DoneAt = %v, %v, want %v", got.DoneAt, err, at(time.Hour))
	}

	// A time with a monotonic clock reading, as time.Now returns.
	now := time.Now()
	u := fullUser("alice")
	u.CreatedAt = now
	must(t, s.CreateUser(ctx, u))
	gotu, err := s.User(ctx, "alice")
	if err != nil {
		t.Fatalf(`User("alice") = %v`, err)
	}
	if d := gotu.CreatedAt.Sub(now); d < -time.Microsecond || d > time.Microsecond || gotu.CreatedAt.Location() != time.UTC {
		t.Errorf("User.CreatedAt = %v, want %v in UTC", gotu.CreatedAt, now.UTC())
	}
}

func testEmptyValues(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Records with nothing but their keys come back exactly so: zero
	// times, nil slices and JSON.
	must(t, s.CreateClient(ctx, store.Client{ID: "c"}))
	must(t, s.CreateUser(ctx, store.User{Subject: "u"}))
	must(t, s.CreateRequest(ctx, store.Request{ID: "r1", AuthReqHash: hash("r1")}))
	must(t, s.CreateSigningKey(ctx, store.SigningKey{ID: "k", Alg: "ES256"}))
	must(t, s.CreateEnrolment(ctx, store.Enrolment{CodeHash: hash("code"), Subject: "u", ExpiresAt: at(time.Hour)}))
	must(t, s.RedeemEnrolment(ctx, hash("code"), t0, store.Device{ID: "d"}))
	tok := store.Token{Hash: hash("tok")}
	_, err := s.UpdateRequest(ctx, "r1", func(*store.Request) (store.Effects, error) {
		return store.Effects{Tokens: []store.Token{tok}}, nil
	})
	must(t, err)
	// Empty, non-nil values come back nil too.
	must(t, s.CreateClient(ctx, store.Client{ID: "c2", SecretHash: []byte{}, GrantTypes: []string{}, JWKS: json.RawMessage{}}))
	must(t, s.CreateRequest(ctx, store.Request{ID: "r2", AuthReqHash: hash("r2"),
		Scopes: []string{}, ACRValues: []string{}, AMR: []string{}}))
	must(t, s.CreateUser(ctx, store.User{Subject: "u2", Claims: json.RawMessage{}, UserCodeHash: []byte{}}))

	check := func(name string, want, got any, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s = %v", name, err)
			return
		}
		if d := diff(want, got); d != "" {
			t.Errorf("%s mismatch (-want +got):\n%s", name, d)
		}
	}
	c, err := s.Client(ctx, "c")
	check(`Client("c")`, store.Client{ID: "c"}, c, err)
	c, err = s.Client(ctx, "c2")
	check(`Client("c2")`, store.Client{ID: "c2"}, c, err)
	u, err := s.User(ctx, "u")
	check(`User("u")`, store.User{Subject: "u"}, u, err)
	u, err = s.User(ctx, "u2")
	check(`User("u2")`, store.User{Subject: "u2"}, u, err)
	r, err := s.Request(ctx, "r1")
	check(`Request("r1")`, store.Request{ID: "r1", AuthReqHash: hash("r1")}, r, err)
	r, err = s.Request(ctx, "r2")
	check(`Request("r2")`, store.Request{ID: "r2", AuthReqHash: hash("r2")}, r, err)
	k, err := s.SigningKeys(ctx)
	check("SigningKeys()", []store.SigningKey{{ID: "k", Alg: "ES256"}}, k, err)
	d, err := s.Device(ctx, "d")
	check(`Device("d")`, store.Device{ID: "d", Subject: "u"}, d, err)
	gotTok, err := s.Token(ctx, tok.Hash)
	check("Token()", tok, gotTok, err)
}

func testCanceledContext(t *testing.T, s store.Store) {
	must(t, s.CreateRequest(t.Context(), fullRequest("r1", "alice")))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Request(ctx, "r1"); err == nil {
		t.Errorf("Request(canceled ctx) = nil error, want one")
	}
	if _, err := s.Users(ctx); err == nil {
		t.Errorf("Users(canceled ctx) = nil error, want one")
	}
	if err := s.CreateClient(ctx, fullClient("a")); err == nil {
		t.Errorf("CreateClient(canceled ctx) = nil error, want one")
	}
	if err := s.UseOnce(ctx, "jti", time.Now().Add(time.Hour)); err == nil {
		t.Errorf("UseOnce(canceled ctx) = nil error, want one")
	}
	_, err := s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
		r.State = store.Denied
		return store.Effects{}, nil
	})
	if err == nil {
		t.Errorf("UpdateRequest(canceled ctx) = nil error, want one")
	}
	if err := s.Ping(ctx); err == nil {
		t.Errorf("Ping(canceled ctx) = nil error, want one")
	}
	if _, err := s.ExpiringRequests(ctx, at(time.Hour), 10); err == nil {
		t.Errorf("ExpiringRequests(canceled ctx) = nil error, want one")
	}
	if err := s.RevokeFamily(ctx, "fam", at(time.Hour)); err == nil {
		t.Errorf("RevokeFamily(canceled ctx) = nil error, want one")
	}
	_, err = s.UpdateToken(ctx, hash("tok"), func(*store.Token) (store.Effects, error) {
		return store.Effects{}, nil
	})
	if err == nil {
		t.Errorf("UpdateToken(canceled ctx) = nil error, want one")
	}
	// Nothing was written.
	_, err = s.Client(t.Context(), "a")
	wantErr(t, "Client created with a canceled ctx", err, store.ErrNotFound)
	r, err := s.Request(t.Context(), "r1")
	if err != nil || r.State != store.Pending {
		t.Errorf("Request after UpdateRequest(canceled ctx) = %q, %v, want %q", r.State, err, store.Pending)
	}
	must(t, s.UseOnce(t.Context(), "jti", time.Now().Add(time.Hour)))
}

// testWaitingWriter checks that an update waiting for another update of
// the same request gives up when its context ends.
func testWaitingWriter(t *testing.T, s store.Store) {
	must(t, s.CreateRequest(t.Context(), fullRequest("r1", "alice")))
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := s.UpdateRequest(t.Context(), "r1", func(r *store.Request) (store.Effects, error) {
			close(holding)
			<-release
			r.State = store.Approved
			return store.Effects{}, nil
		})
		done <- err
	}()
	<-holding

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	waited := make(chan error, 1)
	go func() {
		_, err := s.UpdateRequest(ctx, "r1", func(r *store.Request) (store.Effects, error) {
			r.State = store.Denied
			return store.Effects{}, nil
		})
		waited <- err
	}()
	select {
	case err := <-waited:
		if err == nil {
			t.Errorf("UpdateRequest while another holds the request = nil error, want one")
		}
	case <-time.After(10 * time.Second):
		t.Errorf("UpdateRequest did not return 10s after its context ended")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("holding UpdateRequest = %v", err)
	}
	r, err := s.Request(t.Context(), "r1")
	if err != nil || r.State != store.Approved {
		t.Errorf("Request = %q, %v, want %q", r.State, err, store.Approved)
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping() = %v, want nil", err)
	}
}
