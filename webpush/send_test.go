package webpush_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backchannel/backchannel/notify"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/store/sqlite"
	"github.com/backchannel/backchannel/webpush"
)

// setup opens a store with one active device "d1" of user u1 and
// returns it with a Sender.
func setup(t *testing.T) (store.Store, *webpush.Sender) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "backchannel.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	code := sha256.Sum256([]byte("code"))
	if err := st.CreateEnrolment(t.Context(), store.Enrolment{CodeHash: code[:], Subject: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := st.RedeemEnrolment(t.Context(), code[:], now, store.Device{ID: "d1", Name: "phone", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	key, err := webpush.LoadKey(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	return st, &webpush.Sender{Store: st, Key: key, Subject: "mailto:ops@example.com"}
}

func subscription(t *testing.T, endpoint string) store.PushSubscription {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return store.PushSubscription{Endpoint: endpoint, P256DH: k.PublicKey().Bytes(), Auth: auth}
}

func row(t *testing.T, deviceID string, expiresAt time.Time) store.Outbound {
	t.Helper()
	r, err := webpush.Outbound("x", "client", deviceID,
		webpush.Message{RequestID: "r1", ClientName: "Bank", ExpiresAt: expiresAt.Unix()}, expiresAt, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSendGone: rows whose recipient is gone end without an HTTP request.
func TestSendGone(t *testing.T) {
	st, sender := setup(t)
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	later := time.Now().Add(time.Minute)

	tests := []struct {
		name  string
		setup func()
		row   store.Outbound
	}{
		{"no subscription", func() {}, row(t, "d1", later)},
		{"unknown device", func() {}, row(t, "nobody", later)},
		{"expired request", func() {
			if err := st.SetPushSubscription(t.Context(), "d1", subscription(t, srv.URL+"/1")); err != nil {
				t.Fatal(err)
			}
		}, row(t, "d1", time.Now().Add(3*time.Second))},
		{"revoked device", func() {
			if err := st.RevokeDevice(t.Context(), "d1", time.Now()); err != nil {
				t.Fatal(err)
			}
		}, row(t, "d1", later)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			resp, err := sender.Send(t.Context(), tt.row, srv.Client())
			if !errors.Is(err, notify.ErrGone) {
				t.Errorf("Send = %v, %v, want notify.ErrGone", resp, err)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("push service called %d times, want 0", n)
	}
	if s := sender.Stats(); s.Failed != int64(len(tests)) || s.Sent != 0 {
		t.Errorf("Stats = %+v, want %d failed", s, len(tests))
	}
}

// TestSendGoneKeepsNewerSubscription: a 410 for the endpoint that was
// used must not remove a subscription the device saved meanwhile.
func TestSendGoneKeepsNewerSubscription(t *testing.T) {
	st, sender := setup(t)
	newer := subscription(t, "https://push.example/newer")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := st.SetPushSubscription(r.Context(), "d1", newer); err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusGone)
	}))
	defer srv.Close()
	if err := st.SetPushSubscription(t.Context(), "d1", subscription(t, srv.URL+"/old")); err != nil {
		t.Fatal(err)
	}
	resp, err := sender.Send(t.Context(), row(t, "d1", time.Now().Add(time.Minute)), srv.Client())
	if err != nil || resp.StatusCode != http.StatusGone {
		t.Fatalf("Send = %v, %v, want the 410", resp, err)
	}
	resp.Body.Close()
	dev, err := st.Device(t.Context(), "d1")
	if err != nil || dev.Push.Endpoint != newer.Endpoint {
		t.Errorf("subscription after a 410 for the old endpoint = %q, %v, want %q", dev.Push.Endpoint, err, newer.Endpoint)
	}
	if s := sender.Stats(); s.Gone != 1 {
		t.Errorf("Stats = %+v, want 1 gone", s)
	}
}

// FuzzParseSubscription: Parse never panics, and what it accepts is a
// usable subscription.
func FuzzParseSubscription(f *testing.F) {
	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	f.Add("https://push.example/a", "BAAA", "AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("https://push.example/a", b64(k.PublicKey().Bytes()), b64(make([]byte, 16)))
	f.Fuzz(func(t *testing.T, endpoint, p256dh, auth string) {
		var s webpush.Subscription
		s.Endpoint, s.Keys.P256DH, s.Keys.Auth = endpoint, p256dh, auth
		got, err := s.Parse()
		if err != nil {
			return
		}
		if len(got.Auth) != 16 || len(got.P256DH) != 65 || got.Endpoint != endpoint || len(endpoint) > webpush.MaxEndpoint {
			t.Errorf("Parse(%q, %q, %q) = %+v, accepted an unusable subscription", endpoint, p256dh, auth, got)
		}
		if _, err := ecdh.P256().NewPublicKey(got.P256DH); err != nil {
			t.Errorf("Parse accepted p256dh %q off the curve", p256dh)
		}
	})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
