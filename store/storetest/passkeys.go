package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/backchannel/backchannel/store"
)

// enrolDevice creates device id of sub through an enrolment, as the
// server does.
func enrolDevice(t *testing.T, s store.Store, id, sub string) {
	t.Helper()
	e := fullEnrolment("code for "+id, sub)
	must(t, s.CreateEnrolment(t.Context(), e))
	d := fullDevice(id)
	d.RevokedAt = time.Time{}
	must(t, s.RedeemEnrolment(t.Context(), e.CodeHash, e.CreatedAt, d))
}

func fullPasskey(id, deviceID string, created time.Duration) store.Passkey {
	return store.Passkey{
		ID:        id,
		DeviceID:  deviceID,
		Subject:   "alice",
		Record:    json.RawMessage(`{"id":"` + id + `","publicKey":"pQECAyYgASFYIA","authenticator":{"signCount":0}}`),
		CreatedAt: at(created),
	}
}

func testPasskeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	enrolDevice(t, s, "d1", "alice")
	enrolDevice(t, s, "d2", "alice")
	got, err := s.Passkeys(ctx, "d1")
	if err != nil || got != nil {
		t.Fatalf(`Passkeys("d1") before any = %v, %v; want nil, nil`, got, err)
	}
	for i, id := range []string{"pk-b", "pk-a"} {
		must(t, s.SavePasskeyChallenge(ctx, "d1", hash("challenge "+id), at(time.Hour)))
		must(t, s.CreatePasskey(ctx, fullPasskey(id, "d1", time.Duration(i)*time.Minute), hash("challenge "+id), at(time.Minute)))
	}
	want := []store.Passkey{fullPasskey("pk-b", "d1", 0), fullPasskey("pk-a", "d1", time.Minute)}
	got, err = s.Passkeys(ctx, "d1")
	must(t, err)
	if d := diff(want, got); d != "" {
		t.Errorf(`Passkeys("d1") mismatch (-want +got):\n%s`, d)
	}
	if other, err := s.Passkeys(ctx, "d2"); err != nil || other != nil {
		t.Errorf(`Passkeys("d2") = %v, %v; want nil, nil: passkeys belong to one device`, other, err)
	}

	record := json.RawMessage(`{"id":"pk-a","authenticator":{"signCount":7}}`)
	must(t, s.UsePasskey(ctx, "pk-a", record, at(2*time.Hour)))
	want[1].Record, want[1].LastUsedAt = record, at(2*time.Hour)
	got, err = s.Passkeys(ctx, "d1")
	must(t, err)
	if d := diff(want, got); d != "" {
		t.Errorf(`Passkeys("d1") after UsePasskey mismatch (-want +got):\n%s`, d)
	}
	wantErr(t, `UsePasskey("missing")`, s.UsePasskey(ctx, "missing", record, at(0)), store.ErrNotFound)

	wantErr(t, `DeletePasskey("d2", "pk-a")`, s.DeletePasskey(ctx, "d2", "pk-a"), store.ErrNotFound)
	must(t, s.DeletePasskey(ctx, "d1", "pk-a"))
	wantErr(t, `DeletePasskey("d1", "pk-a") again`, s.DeletePasskey(ctx, "d1", "pk-a"), store.ErrNotFound)
	got, err = s.Passkeys(ctx, "d1")
	must(t, err)
	if d := diff(want[:1], got); d != "" {
		t.Errorf(`Passkeys("d1") after DeletePasskey mismatch (-want +got):\n%s`, d)
	}
}

// testPasskeyChallengeOnce: a registration needs the device's current,
// unexpired challenge, and uses it up.
func testPasskeyChallengeOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	enrolDevice(t, s, "d1", "alice")
	enrolDevice(t, s, "d2", "alice")
	must(t, s.SavePasskeyChallenge(ctx, "d1", hash("old"), at(time.Hour)))
	must(t, s.SavePasskeyChallenge(ctx, "d1", hash("new"), at(time.Hour)))

	cases := []struct {
		name      string
		device    string
		challenge []byte
		now       time.Time
	}{
		{"a replaced challenge", "d1", hash("old"), at(time.Minute)},
		{"another device's challenge", "d2", hash("new"), at(time.Minute)},
		{"an expired challenge", "d1", hash("new"), at(time.Hour)},
	}
	for _, c := range cases {
		err := s.CreatePasskey(ctx, fullPasskey("pk", c.device, 0), c.challenge, c.now)
		wantErr(t, "CreatePasskey with "+c.name, err, store.ErrNotFound)
	}
	must(t, s.CreatePasskey(ctx, fullPasskey("pk", "d1", 0), hash("new"), at(time.Minute)))
	err := s.CreatePasskey(ctx, fullPasskey("pk2", "d1", 0), hash("new"), at(time.Minute))
	wantErr(t, "CreatePasskey with a used challenge", err, store.ErrNotFound)
	got, err := s.Passkeys(ctx, "d1")
	must(t, err)
	if len(got) != 1 || got[0].ID != "pk" {
		t.Errorf(`Passkeys("d1") = %v, want only "pk"`, got)
	}
}

// testPasskeyDuplicate: a credential ID is registered once; a refused
// registration leaves the challenge usable.
func testPasskeyDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	enrolDevice(t, s, "d1", "alice")
	enrolDevice(t, s, "d2", "alice")
	must(t, s.SavePasskeyChallenge(ctx, "d1", hash("c1"), at(time.Hour)))
	must(t, s.CreatePasskey(ctx, fullPasskey("pk", "d1", 0), hash("c1"), at(time.Minute)))
	must(t, s.SavePasskeyChallenge(ctx, "d2", hash("c2"), at(time.Hour)))
	err := s.CreatePasskey(ctx, fullPasskey("pk", "d2", 0), hash("c2"), at(time.Minute))
	wantErr(t, "CreatePasskey with a registered credential ID", err, store.ErrConflict)
	must(t, s.CreatePasskey(ctx, fullPasskey("pk-2", "d2", 0), hash("c2"), at(time.Minute)))
}
