package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel/store"
)

// enrol creates an enrolment for sub with code and redeems it as d.
func enrol(t *testing.T, s store.Store, code, sub string, d store.Device) {
	t.Helper()
	must(t, s.CreateEnrolment(t.Context(), fullEnrolment(code, sub)))
	must(t, s.RedeemEnrolment(t.Context(), hash(code), t0, d))
}

// enrolTwo enrols two devices of alice, d1 then d2 a second later, and
// returns them as stored.
func enrolTwo(t *testing.T, s store.Store) (d1, d2 store.Device) {
	t.Helper()
	d1, d2 = fullDevice("d1"), fullDevice("d2")
	d1.RevokedAt, d2.RevokedAt = time.Time{}, time.Time{}
	d2.CreatedAt = d1.CreatedAt.Add(time.Second)
	enrol(t, s, "code1", "alice", d1)
	enrol(t, s, "code2", "alice", d2)
	return d1, d2
}

func testRedeemEnrolment(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateEnrolment(ctx, fullEnrolment("code", "alice")))
	d := fullDevice("d1")
	d.Subject = "" // the enrolment says whose device it is
	if err := s.RedeemEnrolment(ctx, hash("code"), at(time.Minute), d); err != nil {
		t.Fatalf("RedeemEnrolment = %v", err)
	}
	want := fullDevice("d1")
	want.Subject = "alice"
	got, err := s.Device(ctx, "d1")
	if err != nil {
		t.Fatalf(`Device("d1") = %v`, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf(`Device("d1") mismatch (-want +got):\n%s`, d)
	}

	err = s.RedeemEnrolment(ctx, hash("code"), at(time.Minute), fullDevice("d2"))
	wantErr(t, "RedeemEnrolment a second time", err, store.ErrNotFound)
	err = s.RedeemEnrolment(ctx, hash("unknown"), at(time.Minute), fullDevice("d3"))
	wantErr(t, "RedeemEnrolment(unknown code)", err, store.ErrNotFound)
	for _, id := range []string{"d2", "d3"} {
		_, err = s.Device(ctx, id)
		wantErr(t, fmt.Sprintf("Device(%q) of a failed redemption", id), err, store.ErrNotFound)
	}
}

func testRedeemEnrolmentExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	e := fullEnrolment("code", "alice")
	must(t, s.CreateEnrolment(ctx, e))
	err := s.RedeemEnrolment(ctx, e.CodeHash, e.ExpiresAt.Add(time.Microsecond), fullDevice("d1"))
	wantErr(t, "RedeemEnrolment after expiry", err, store.ErrNotFound)
	_, err = s.Device(ctx, "d1")
	wantErr(t, "Device of an expired enrolment", err, store.ErrNotFound)
	// Before its expiry the same code still works.
	if err := s.RedeemEnrolment(ctx, e.CodeHash, e.ExpiresAt.Add(-time.Microsecond), fullDevice("d1")); err != nil {
		t.Errorf("RedeemEnrolment before expiry = %v", err)
	}
}

func testRedeemEnrolmentDuplicateDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	enrol(t, s, "code1", "alice", fullDevice("d1"))
	must(t, s.CreateEnrolment(ctx, fullEnrolment("code2", "bob")))
	err := s.RedeemEnrolment(ctx, hash("code2"), t0, fullDevice("d1"))
	wantErr(t, "RedeemEnrolment with an existing device ID", err, store.ErrConflict)
	// Nothing happened: the code is still usable, d1 is still alice's.
	if err := s.RedeemEnrolment(ctx, hash("code2"), t0, fullDevice("d2")); err != nil {
		t.Errorf("RedeemEnrolment after a conflict = %v, want nil", err)
	}
	got, err := s.Device(ctx, "d1")
	if err != nil || got.Subject != "alice" {
		t.Errorf(`Device("d1") = %+v, %v, want alice's`, got, err)
	}
}

func testRedeemEnrolmentConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateEnrolment(ctx, fullEnrolment("code", "alice")))
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.RedeemEnrolment(ctx, hash("code"), t0, fullDevice(fmt.Sprint("d", i)))
		})
	}
	wg.Wait()
	if w := wins(t, errs, store.ErrNotFound); w != 1 {
		t.Fatalf("enrolment redeemed %d times, want 1", w)
	}
	ds, err := s.Devices(ctx, "alice")
	if err != nil {
		t.Fatalf("Devices(alice) = %v", err)
	}
	if len(ds) != 1 {
		t.Errorf("Devices(alice) = %d devices, want 1", len(ds))
	}
}

func testEnrolmentDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateEnrolment(ctx, fullEnrolment("code", "alice")))
	err := s.CreateEnrolment(ctx, fullEnrolment("code", "bob"))
	wantErr(t, "CreateEnrolment(same code)", err, store.ErrConflict)
	// The code is still alice's.
	must(t, s.RedeemEnrolment(ctx, hash("code"), t0, fullDevice("d1")))
	got, err := s.Device(ctx, "d1")
	if err != nil || got.Subject != "alice" {
		t.Errorf(`Device("d1") = %+v, %v, want alice's`, got, err)
	}
}

func testDevices(t *testing.T, s store.Store) {
	ctx := t.Context()
	dev := func(id string, created time.Duration) store.Device {
		d := fullDevice(id)
		d.CreatedAt = at(created)
		d.RevokedAt = time.Time{}
		return d
	}
	second, first, third := dev("b", 2*time.Minute), dev("c", time.Minute), dev("a", 3*time.Minute)
	enrol(t, s, "code1", "alice", second)
	enrol(t, s, "code2", "alice", first)
	enrol(t, s, "code3", "alice", third)
	enrol(t, s, "code4", "bob", dev("bobs", 0))

	got, err := s.Devices(ctx, "alice")
	if err != nil {
		t.Fatalf("Devices(alice) = %v", err)
	}
	if d := diff([]store.Device{first, second, third}, got); d != "" {
		t.Errorf("Devices(alice) mismatch (-want +got):\n%s", d)
	}
	got, err = s.Devices(ctx, "carol")
	if err != nil || got != nil {
		t.Errorf("Devices(carol) = %v, %v, want nil, nil", got, err)
	}
	_, err = s.Device(ctx, "nothing")
	wantErr(t, `Device("nothing")`, err, store.ErrNotFound)
}

func testRevokeDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	d1, d2 := enrolTwo(t, s)

	must(t, s.RevokeDevice(ctx, "d1", at(3*time.Hour)))
	want := d1
	want.RevokedAt = at(3 * time.Hour)
	got, err := s.Device(ctx, "d1")
	if err != nil {
		t.Fatalf(`Device("d1") = %v`, err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Device after RevokeDevice (-want +got):\n%s", d)
	}
	// A revoked device is still listed; the other is untouched.
	ds, err := s.Devices(ctx, "alice")
	if err != nil {
		t.Fatalf("Devices(alice) = %v", err)
	}
	if d := diff([]store.Device{want, d2}, ds); d != "" {
		t.Errorf("Devices(alice) after RevokeDevice (-want +got):\n%s", d)
	}
	wantErr(t, `RevokeDevice("nothing")`, s.RevokeDevice(ctx, "nothing", t0), store.ErrNotFound)
}
