package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel/store"
)

func pushSubscription(endpoint string) store.PushSubscription {
	p256dh := append([]byte{4}, bytes.Repeat([]byte{7}, 64)...)
	return store.PushSubscription{Endpoint: endpoint, P256DH: p256dh, Auth: bytes.Repeat([]byte{9}, 16)}
}

func testPushSubscription(t *testing.T, s store.Store) {
	ctx := t.Context()
	d1, d2 := enrolTwo(t, s)

	p1 := pushSubscription("https://push.example/1")
	must(t, s.SetPushSubscription(ctx, "d1", p1))
	want1 := d1
	want1.Push = p1
	got, err := s.Device(ctx, "d1")
	if err != nil {
		t.Fatalf(`Device("d1") = %v`, err)
	}
	if d := diff(want1, got); d != "" {
		t.Errorf("Device after SetPushSubscription (-want +got):\n%s", d)
	}
	// Devices carries the subscription too: the initiation path reads it there.
	ds, err := s.Devices(ctx, "alice")
	if err != nil {
		t.Fatalf("Devices(alice) = %v", err)
	}
	if d := diff([]store.Device{want1, d2}, ds); d != "" {
		t.Errorf("Devices(alice) (-want +got):\n%s", d)
	}

	// One subscription per device: a second replaces the first.
	p2 := pushSubscription("https://push.example/2")
	p2.Auth = bytes.Repeat([]byte{1}, 16)
	must(t, s.SetPushSubscription(ctx, "d1", p2))
	// A "gone" for the old endpoint leaves the new subscription alone.
	must(t, s.DeletePushSubscription(ctx, "d1", p1.Endpoint))
	if got, _ := s.Device(ctx, "d1"); got.Push.Endpoint != p2.Endpoint {
		t.Errorf("Push.Endpoint after deleting the old endpoint = %q, want %q", got.Push.Endpoint, p2.Endpoint)
	}
	must(t, s.DeletePushSubscription(ctx, "d1", p2.Endpoint))
	if got, _ := s.Device(ctx, "d1"); got.Push.Endpoint != "" || got.Push.P256DH != nil || got.Push.Auth != nil {
		t.Errorf("Push after DeletePushSubscription = %+v, want zero", got.Push)
	}
	// Deleting nothing, or on an unknown device, is not an error.
	must(t, s.DeletePushSubscription(ctx, "d1", ""))
	must(t, s.DeletePushSubscription(ctx, "unknown", ""))

	// An empty endpoint removes whatever there is.
	must(t, s.SetPushSubscription(ctx, "d2", p1))
	must(t, s.DeletePushSubscription(ctx, "d2", ""))
	if got, _ := s.Device(ctx, "d2"); got.Push.Endpoint != "" {
		t.Errorf("Push.Endpoint after DeletePushSubscription(\"\") = %q, want empty", got.Push.Endpoint)
	}

	err = s.SetPushSubscription(ctx, "unknown", p1)
	wantErr(t, "SetPushSubscription(unknown device)", err, store.ErrNotFound)
}

func testPushSubscriptionRevoked(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := fullDevice("d1")
	d.RevokedAt = time.Time{}
	enrol(t, s, "code1", "alice", d)
	must(t, s.SetPushSubscription(ctx, "d1", pushSubscription("https://push.example/1")))
	must(t, s.RevokeDevice(ctx, "d1", at(3*time.Hour)))
	// Revoking removes the subscription, and a revoked device takes no new one.
	if got, _ := s.Device(ctx, "d1"); got.Push.Endpoint != "" {
		t.Errorf("Push.Endpoint of a revoked device = %q, want empty", got.Push.Endpoint)
	}
	err := s.SetPushSubscription(ctx, "d1", pushSubscription("https://push.example/2"))
	wantErr(t, "SetPushSubscription(revoked device)", err, store.ErrNotFound)
}

func testServerSecret(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ServerSecret(ctx, "vapid", []byte("first"))
	if err != nil || string(got) != "first" {
		t.Fatalf(`ServerSecret(vapid, first) = %q, %v, want "first"`, got, err)
	}
	got, err = s.ServerSecret(ctx, "vapid", []byte("second"))
	if err != nil || string(got) != "first" {
		t.Errorf(`ServerSecret(vapid, second) = %q, %v, want the first value`, got, err)
	}
	got, err = s.ServerSecret(ctx, "other", []byte("x"))
	if err != nil || string(got) != "x" {
		t.Errorf(`ServerSecret(other, x) = %q, %v, want "x"`, got, err)
	}
}

// testServerSecretConcurrent starts several "instances" at once: every one
// must get the same value.
func testServerSecretConcurrent(t *testing.T, s store.Store) {
	const n = 8
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := s.ServerSecret(t.Context(), "vapid", fmt.Appendf(nil, "value %d", i))
			got[i], errs[i] = string(v), err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("ServerSecret #%d = %v", i, errs[i])
		}
		if got[i] != got[0] {
			t.Errorf("ServerSecret #%d = %q, #0 = %q, want the same", i, got[i], got[0])
		}
	}
}
