package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel/store"
)

func testClientRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := []store.Client{fullClient("a"), fullClient("b"), fullClient("c")}
	for _, i := range []int{1, 2, 0} { // listed by ID, not by creation
		must(t, s.CreateClient(ctx, want[i]))
	}
	for _, c := range want {
		got, err := s.Client(ctx, c.ID)
		if err != nil {
			t.Fatalf("Client(%q) = %v", c.ID, err)
		}
		if d := diff(c, got); d != "" {
			t.Errorf("Client(%q) mismatch (-want +got):\n%s", c.ID, d)
		}
	}
	got, err := s.Clients(ctx)
	if err != nil {
		t.Fatalf("Clients() = %v", err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Clients() mismatch (-want +got):\n%s", d)
	}

	must(t, s.DeleteClient(ctx, "b"))
	_, err = s.Client(ctx, "b")
	wantErr(t, `Client("b") after DeleteClient`, err, store.ErrNotFound)
	got, err = s.Clients(ctx)
	if err != nil {
		t.Fatalf("Clients() = %v", err)
	}
	if d := diff([]store.Client{want[0], want[2]}, got); d != "" {
		t.Errorf("Clients() after DeleteClient mismatch (-want +got):\n%s", d)
	}
}

func testClientMissing(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.Client(ctx, "nobody")
	wantErr(t, `Client("nobody")`, err, store.ErrNotFound)
	wantErr(t, `DeleteClient("nobody")`, s.DeleteClient(ctx, "nobody"), store.ErrNotFound)
	cs, err := s.Clients(ctx)
	if err != nil || cs != nil {
		t.Errorf("Clients() = %v, %v, want nil, nil", cs, err)
	}
}

func testClientDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := fullClient("a")
	must(t, s.CreateClient(ctx, want))
	other := fullClient("b")
	other.ID = "a"
	wantErr(t, `CreateClient("a") again`, s.CreateClient(ctx, other), store.ErrConflict)
	got, err := s.Client(ctx, "a")
	if err != nil {
		t.Fatalf(`Client("a") = %v`, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Client after a conflicting create changed (-want +got):\n%s", d)
	}
}

func testUpdateClient(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := fullClient("a")
	must(t, s.CreateClient(ctx, orig))
	// Read it first, so that a store that keeps recent reads must notice
	// the change.
	if got, err := s.Client(ctx, "a"); err != nil || diff(orig, got) != "" {
		t.Fatalf("Client before UpdateClient = %v (-want +got):\n%s", err, diff(orig, got))
	}
	// Changing what a read returned changes nothing stored.
	first, _ := s.Client(ctx, "a")
	first.GrantTypes[0], first.SecretHash[0], first.JWKS[0], first.DefaultACRValues[0] = "x", ^first.SecretHash[0], ' ', "x"
	first.RegistrationAccessTokenHash[0] = ^first.RegistrationAccessTokenHash[0]
	if got, _ := s.Client(ctx, "a"); diff(orig, got) != "" {
		t.Errorf("Client after changing the slices of an earlier read (-want +got):\n%s", diff(orig, got))
	}
	want := orig
	want.Name = "Renamed"
	want.JWKSURI = ""
	want.Profile = ""
	want.RegistrationAccessTokenHash = hash("rotated")
	got, err := s.UpdateClient(ctx, "a", func(c *store.Client) error {
		c.Name, c.JWKSURI, c.Profile, c.RegistrationAccessTokenHash = want.Name, "", "", want.RegistrationAccessTokenHash
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateClient = %v", err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("UpdateClient returned (-want +got):\n%s", d)
	}
	if got, _ = s.Client(ctx, "a"); diff(want, got) != "" {
		t.Errorf("Client after UpdateClient (-want +got):\n%s", diff(want, got))
	}
	_, err = s.UpdateClient(ctx, "a", func(c *store.Client) error {
		c.Name = "Not saved"
		return fmt.Errorf("wrapped: %w", errTestChange)
	})
	wantErr(t, "UpdateClient with a failing change", err, errTestChange)
	if got, _ = s.Client(ctx, "a"); got.Name != want.Name {
		t.Errorf("a failed change was saved: Name = %q", got.Name)
	}
	_, err = s.UpdateClient(ctx, "missing", func(*store.Client) error { return nil })
	wantErr(t, `UpdateClient("missing")`, err, store.ErrNotFound)
}

func testUserRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := []store.User{fullUser("alice"), fullUser("bob"), fullUser("carol")}
	for _, i := range []int{2, 0, 1} {
		must(t, s.CreateUser(ctx, want[i]))
	}
	for _, u := range want {
		got, err := s.User(ctx, u.Subject)
		if err != nil {
			t.Fatalf("User(%q) = %v", u.Subject, err)
		}
		if d := diff(u, got); d != "" {
			t.Errorf("User(%q) mismatch (-want +got):\n%s", u.Subject, d)
		}
	}
	got, err := s.Users(ctx)
	if err != nil {
		t.Fatalf("Users() = %v", err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Users() mismatch (-want +got):\n%s", d)
	}

	must(t, s.DeleteUser(ctx, "bob"))
	_, err = s.User(ctx, "bob")
	wantErr(t, `User("bob") after DeleteUser`, err, store.ErrNotFound)
	_, err = s.UserByHint(ctx, want[1].Email)
	wantErr(t, `UserByHint(bob's email) after DeleteUser`, err, store.ErrNotFound)
	// The deleted user's hint values are free again.
	must(t, s.CreateUser(ctx, fullUser("bob")))
}

func testUserMissing(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.User(ctx, "nobody")
	wantErr(t, `User("nobody")`, err, store.ErrNotFound)
	wantErr(t, `DeleteUser("nobody")`, s.DeleteUser(ctx, "nobody"), store.ErrNotFound)
	called := false
	_, err = s.UpdateUser(ctx, "nobody", func(*store.User) error { called = true; return nil })
	wantErr(t, `UpdateUser("nobody")`, err, store.ErrNotFound)
	if called {
		t.Errorf(`UpdateUser("nobody") called change`)
	}
	us, err := s.Users(ctx)
	if err != nil || us != nil {
		t.Errorf("Users() = %v, %v, want nil, nil", us, err)
	}
}

func testUserDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := fullUser("alice")
	must(t, s.CreateUser(ctx, alice))
	tests := []struct {
		name string
		edit func(*store.User)
	}{
		{"subject", func(u *store.User) { u.Subject = alice.Subject }},
		{"preferred_username", func(u *store.User) { u.PreferredUsername = alice.PreferredUsername }},
		{"email", func(u *store.User) { u.Email = alice.Email }},
		{"phone_number", func(u *store.User) { u.PhoneNumber = alice.PhoneNumber }},
	}
	for _, tt := range tests {
		u := fullUser("bob")
		tt.edit(&u)
		wantErr(t, fmt.Sprintf("CreateUser(bob with alice's %s)", tt.name), s.CreateUser(ctx, u), store.ErrConflict)
	}
	us, err := s.Users(ctx)
	if err != nil {
		t.Fatalf("Users() = %v", err)
	}
	if d := diff([]store.User{alice}, us); d != "" {
		t.Errorf("Users() after conflicting creates mismatch (-want +got):\n%s", d)
	}
}

func testUserEmptyHintFields(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := []store.User{{Subject: "u1"}, {Subject: "u2"}, {Subject: "u3", Email: "u3@example.com"}}
	for _, u := range want {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%q without hint fields) = %v, want nil", u.Subject, err)
		}
	}
	got, err := s.Users(ctx)
	if err != nil {
		t.Fatalf("Users() = %v", err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Users() mismatch (-want +got):\n%s", d)
	}
	_, err = s.UserByHint(ctx, "")
	wantErr(t, `UserByHint("")`, err, store.ErrNotFound)
}

func testUserByHint(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, bob := fullUser("alice"), fullUser("bob")
	// carol's email is her own subject: a hint that matches one user on
	// two fields names that user.
	carol := store.User{Subject: "carol@example.com", Email: "carol@example.com"}
	// dave's phone number is erin's subject: that hint names two users.
	dave := store.User{Subject: "dave", PhoneNumber: "erin"}
	erin := store.User{Subject: "erin"}
	for _, u := range []store.User{alice, bob, carol, dave, erin} {
		must(t, s.CreateUser(ctx, u))
	}
	tests := []struct {
		hint string
		want store.User
	}{
		{"bob", bob},
		{bob.PreferredUsername, bob},
		{bob.Email, bob},
		{bob.PhoneNumber, bob},
		{alice.Email, alice},
		{"carol@example.com", carol},
		{"dave", dave},
	}
	for _, tt := range tests {
		got, err := s.UserByHint(ctx, tt.hint)
		if err != nil {
			t.Errorf("UserByHint(%q) = %v", tt.hint, err)
			continue
		}
		if d := diff(tt.want, got); d != "" {
			t.Errorf("UserByHint(%q) mismatch (-want +got):\n%s", tt.hint, d)
		}
	}
	for _, hint := range []string{"nobody", "BOB", "bob@example.co", " bob", ""} {
		_, err := s.UserByHint(ctx, hint)
		wantErr(t, fmt.Sprintf("UserByHint(%q)", hint), err, store.ErrNotFound)
	}
	_, err := s.UserByHint(ctx, "erin")
	wantErr(t, `UserByHint("erin"), a subject and another user's phone number`, err, store.ErrConflict)
}

func testUpdateUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, fullUser("alice")))
	must(t, s.CreateUser(ctx, fullUser("bob")))
	want := fullUser("alice")
	want.PreferredUsername = "alice2"
	want.Email = "alice2@example.net"
	want.PhoneNumber = ""
	want.Claims = []byte(`{"name":"Alice Two"}`)
	want.UserCodeHash = hash("new code")
	want.UserCodeFailures = 0
	want.CreatedAt = at(-time.Hour)

	got, err := s.UpdateUser(ctx, "alice", func(u *store.User) error {
		if d := diff(fullUser("alice"), *u); d != "" {
			t.Errorf("UpdateUser passed change a user that differs from the stored one (-want +got):\n%s", d)
		}
		*u = want
		return nil
	})
	if err != nil {
		t.Fatalf(`UpdateUser("alice") = %v`, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("UpdateUser returned (-want +got):\n%s", d)
	}
	got, err = s.User(ctx, "alice")
	if err != nil {
		t.Fatalf(`User("alice") = %v`, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("User after UpdateUser (-want +got):\n%s", d)
	}
	got, err = s.UserByHint(ctx, "alice2@example.net")
	if err != nil || got.Subject != "alice" {
		t.Errorf("UserByHint(new email) = %q, %v, want alice", got.Subject, err)
	}
	_, err = s.UserByHint(ctx, fullUser("alice").Email)
	wantErr(t, "UserByHint(old email)", err, store.ErrNotFound)
	// bob is unchanged.
	got, err = s.User(ctx, "bob")
	if err != nil {
		t.Fatalf(`User("bob") = %v`, err)
	}
	if d := diff(fullUser("bob"), got); d != "" {
		t.Errorf("other user changed (-want +got):\n%s", d)
	}
}

// errTestChange is returned by test callbacks; the suite checks it comes
// back as it is.
var errTestChange = errors.New("storetest: change refused")

func testUpdateUserChangeError(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := fullUser("alice")
	must(t, s.CreateUser(ctx, want))
	_, err := s.UpdateUser(ctx, "alice", func(u *store.User) error {
		u.Email = "changed@example.com"
		u.UserCodeFailures = 99
		return fmt.Errorf("wrapped: %w", errTestChange)
	})
	wantErr(t, "UpdateUser with a failing change", err, errTestChange)
	got, err := s.User(ctx, "alice")
	if err != nil {
		t.Fatalf(`User("alice") = %v`, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("User after a failed change (-want +got):\n%s", d)
	}
}

func testUpdateUserConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, bob := fullUser("alice"), fullUser("bob")
	must(t, s.CreateUser(ctx, alice))
	must(t, s.CreateUser(ctx, bob))
	_, err := s.UpdateUser(ctx, "alice", func(u *store.User) error {
		u.Email = bob.Email
		return nil
	})
	wantErr(t, "UpdateUser(alice takes bob's email)", err, store.ErrConflict)
	got, err := s.User(ctx, "alice")
	if err != nil {
		t.Fatalf(`User("alice") = %v`, err)
	}
	if d := diff(alice, got); d != "" {
		t.Errorf("User after a conflicting update (-want +got):\n%s", d)
	}
}

func testUpdateUserConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := fullUser("alice")
	u.UserCodeFailures = 0
	must(t, s.CreateUser(ctx, u))
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.UpdateUser(ctx, "alice", func(u *store.User) error {
				u.UserCodeFailures++
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("UpdateUser #%d = %v", i, err)
		}
	}
	got, err := s.User(ctx, "alice")
	if err != nil {
		t.Fatalf(`User("alice") = %v`, err)
	}
	if got.UserCodeFailures != n {
		t.Errorf("UserCodeFailures after %d concurrent increments = %d, want %d", n, got.UserCodeFailures, n)
	}
}
