package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel/store"
)

// issue creates request requestID and the tokens ts as the effects of an
// update of it.
func issue(t *testing.T, s store.Store, requestID string, ts ...store.Token) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.Request(ctx, requestID); err != nil {
		must(t, s.CreateRequest(ctx, fullRequest(requestID, "alice")))
	}
	_, err := s.UpdateRequest(ctx, requestID, func(*store.Request) (store.Effects, error) {
		return store.Effects{Tokens: ts}, nil
	})
	if err != nil {
		t.Fatalf("UpdateRequest(%q) issuing %d tokens = %v", requestID, len(ts), err)
	}
}

// wantToken checks that token want.Hash is stored as want.
func wantToken(t *testing.T, s store.Store, want store.Token) {
	t.Helper()
	got, err := s.Token(t.Context(), want.Hash)
	if err != nil {
		t.Errorf("Token(%x) = %v", want.Hash[:4], err)
		return
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Token(%x) mismatch (-want +got):\n%s", want.Hash[:4], d)
	}
}

// unused returns a fresh refresh token of family fam: not used, not
// revoked.
func unused(name, fam string) store.Token {
	tok := fullToken(name, "r1")
	tok.FamilyID = fam
	tok.UsedAt, tok.RevokedAt = time.Time{}, time.Time{}
	return tok
}

func testTokenRoundTrip(t *testing.T, s store.Store) {
	full := fullToken("full", "r1")
	bare := store.Token{Hash: hash("bare"), Scopes: []string{}, AMR: []string{}}
	issue(t, s, "r1", full, bare)
	wantToken(t, s, full)
	bare.Scopes, bare.AMR = nil, nil
	wantToken(t, s, bare)
}

// rotated returns old as a refresh at now leaves it, and its successor.
func rotated(old store.Token, now time.Time) (store.Token, store.Token) {
	next := old
	next.Hash = hash(fmt.Sprintf("successor of %x", old.Hash))
	next.IssuedAt, next.ExpiresAt = now, now.Add(30*24*time.Hour)
	old.UsedAt = now
	return old, next
}

func testUpdateToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	before := unused("refresh", "fam-1")
	other := unused("other", "fam-1")
	issue(t, s, "r1", before, other)

	// Every field but the hash can change.
	want := store.Token{
		Hash:      before.Hash,
		Kind:      store.AccessToken,
		ClientID:  "client-2",
		Subject:   "bob",
		Scopes:    []string{"openid"},
		RequestID: "r2",
		FamilyID:  "fam-2",
		AuthTime:  at(10 * time.Minute),
		ACR:       "urn:example:acr:low",
		AMR:       []string{"pin"},
		IssuedAt:  at(11 * time.Minute),
		ExpiresAt: at(12 * time.Minute),
		UsedAt:    at(13 * time.Minute),
		RevokedAt: at(14 * time.Minute),
	}
	_, next := rotated(before, at(13*time.Minute))
	o := fullOutbound("o1", "r1")
	got, err := s.UpdateToken(ctx, before.Hash, func(tok *store.Token) (store.Effects, error) {
		if d := diff(before, *tok); d != "" {
			t.Errorf("UpdateToken passed decide a token that differs from the stored one (-want +got):\n%s", d)
		}
		*tok = want
		return store.Effects{Tokens: []store.Token{next}, Outbound: []store.Outbound{o}}, nil
	})
	if err != nil {
		t.Fatalf("UpdateToken = %v", err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("UpdateToken returned (-want +got):\n%s", d)
	}
	wantToken(t, s, want)
	wantToken(t, s, next)
	wantToken(t, s, other)
	wantOutbound(t, s, o)
}

func testUpdateTokenMissing(t *testing.T, s store.Store) {
	issue(t, s, "r1", unused("refresh", "fam-1"))
	for _, h := range [][]byte{hash("nothing"), nil} {
		called := false
		_, err := s.UpdateToken(t.Context(), h, func(*store.Token) (store.Effects, error) {
			called = true
			return store.Effects{}, nil
		})
		wantErr(t, fmt.Sprintf("UpdateToken(%x)", h), err, store.ErrNotFound)
		if called {
			t.Errorf("UpdateToken(%x) called decide", h)
		}
	}
}

func testUpdateTokenDecideError(t *testing.T, s store.Store) {
	ctx := t.Context()
	before := unused("refresh", "fam-1")
	issue(t, s, "r1", before)
	_, next := rotated(before, at(time.Hour))
	o := fullOutbound("o1", "r1")
	got, err := s.UpdateToken(ctx, before.Hash, func(tok *store.Token) (store.Effects, error) {
		tok.UsedAt = at(time.Hour)
		return store.Effects{Tokens: []store.Token{next}, Outbound: []store.Outbound{o}}, &decideError{"client mismatch"}
	})
	var de *decideError
	if !errors.As(err, &de) || de.reason != "client mismatch" {
		t.Errorf("UpdateToken with a failing decide = %v, want the *decideError", err)
	}
	if !got.UsedAt.Equal(at(time.Hour)) {
		t.Errorf("UpdateToken with a failing decide returned UsedAt = %v, want the token as decide left it", got.UsedAt)
	}
	wantToken(t, s, before)
	_, err = s.Token(ctx, next.Hash)
	wantErr(t, "Token issued by a failed decide", err, store.ErrNotFound)
	_, err = s.Outbound(ctx, o.ID)
	wantErr(t, "Outbound queued by a failed decide", err, store.ErrNotFound)

	_, err = s.UpdateToken(ctx, before.Hash, func(*store.Token) (store.Effects, error) {
		return store.Effects{}, fmt.Errorf("wrapped: %w", errTestChange)
	})
	wantErr(t, "UpdateToken with a failing decide", err, errTestChange)
}

// testUpdateTokenSaveError checks that an update that cannot be saved
// saves nothing, neither the token nor any of its effects.
func testUpdateTokenSaveError(t *testing.T, s store.Store) {
	ctx := t.Context()
	before := unused("refresh", "fam-1")
	existing := unused("existing", "fam-1")
	issue(t, s, "r1", before, existing)
	queue(t, s, "r1", fullOutbound("o-existing", "r1"))

	_, next := rotated(before, at(time.Hour))
	for _, tt := range []struct {
		name string
		fx   store.Effects
	}{
		{"an existing token hash", store.Effects{Tokens: []store.Token{next, existing}}},
		{"an existing outbound ID", store.Effects{Tokens: []store.Token{next},
			Outbound: []store.Outbound{fullOutbound("o-new", "r1"), fullOutbound("o-existing", "r1")}}},
	} {
		_, err := s.UpdateToken(ctx, before.Hash, func(tok *store.Token) (store.Effects, error) {
			tok.UsedAt = at(time.Hour)
			return tt.fx, nil
		})
		wantErr(t, "UpdateToken creating "+tt.name, err, store.ErrConflict)
	}
	// Changing the hash is not allowed.
	_, err := s.UpdateToken(ctx, before.Hash, func(tok *store.Token) (store.Effects, error) {
		tok.Hash = hash("another")
		tok.UsedAt = at(time.Hour)
		return store.Effects{Tokens: []store.Token{next}}, nil
	})
	if err == nil {
		t.Errorf("UpdateToken changing the hash = nil error, want one")
	}

	wantToken(t, s, before)
	wantToken(t, s, existing)
	for _, h := range [][]byte{next.Hash, hash("another")} {
		_, err := s.Token(ctx, h)
		wantErr(t, fmt.Sprintf("Token(%x) of a failed update", h[:4]), err, store.ErrNotFound)
	}
	_, err = s.Outbound(ctx, "o-new")
	wantErr(t, "Outbound of a failed update", err, store.ErrNotFound)
}

var errReplayed = errors.New("storetest: refresh token replayed")

// testRefreshExactlyOnce checks that concurrent refreshes with one
// refresh token rotate it once.
func testRefreshExactlyOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok := unused("refresh", "fam-1")
	issue(t, s, "r1", tok)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.UpdateToken(ctx, tok.Hash, func(tok *store.Token) (store.Effects, error) {
				if !tok.UsedAt.IsZero() {
					return store.Effects{}, errReplayed
				}
				tok.UsedAt = at(time.Hour)
				next := unused(fmt.Sprint("successor ", i), tok.FamilyID)
				return store.Effects{Tokens: []store.Token{next}}, nil
			})
		})
	}
	wg.Wait()
	if w := wins(t, errs, errReplayed); w != 1 {
		t.Fatalf("refresh token rotated %d times, want 1", w)
	}
	for i := range n {
		_, err := s.Token(ctx, hash(fmt.Sprint("successor ", i)))
		if won := errs[i] == nil; won != (err == nil) {
			t.Errorf("refresher %d: won = %v, but Token(successor) = %v", i, won, err)
		}
	}
}

func testRevokeFamily(t *testing.T, s store.Store) {
	ctx := t.Context()
	a1, a2 := unused("a1", "fam-a"), unused("a2", "fam-a")
	a2.Kind = store.AccessToken
	earlier := unused("a-revoked", "fam-a")
	earlier.RevokedAt = at(time.Minute)
	b := unused("b", "fam-b")
	none := unused("none", "")
	issue(t, s, "r1", a1, a2, earlier, b, none)

	revoked := at(time.Hour)
	if err := s.RevokeFamily(ctx, "fam-a", revoked); err != nil {
		t.Fatalf(`RevokeFamily("fam-a") = %v`, err)
	}
	for _, tok := range []*store.Token{&a1, &a2} {
		tok.RevokedAt = revoked
	}
	for _, tok := range []store.Token{a1, a2, earlier, b, none} {
		wantToken(t, s, tok)
	}

	// Again, later: nothing changes.
	if err := s.RevokeFamily(ctx, "fam-a", at(2*time.Hour)); err != nil {
		t.Fatalf(`RevokeFamily("fam-a") again = %v`, err)
	}
	for _, name := range []string{"nothing", ""} {
		if err := s.RevokeFamily(ctx, name, revoked); err != nil {
			t.Errorf("RevokeFamily(%q) = %v, want nil", name, err)
		}
	}
	for _, tok := range []store.Token{a1, a2, earlier, b, none} {
		wantToken(t, s, tok)
	}
}
