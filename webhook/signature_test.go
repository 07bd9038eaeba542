package webhook_test

import (
	"errors"
	"testing"
	"time"

	"github.com/backchannel/backchannel/webhook"
)

func TestVerify(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"decision":"approve"}`)
	good := webhook.Sign(secret, now, body)
	tests := []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", good, body, now, nil},
		{"valid at the edge of tolerance", good, body, now.Add(5 * time.Minute), nil},
		{"stale", good, body, now.Add(5*time.Minute + time.Second), webhook.ErrStale},
		{"from the future", good, body, now.Add(-6 * time.Minute), webhook.ErrStale},
		{"other body", good, []byte(`{"decision":"deny"}`), now, webhook.ErrSignature},
		{"other secret", webhook.Sign([]byte("another secret of 32 bytes......"), now, body), body, now, webhook.ErrSignature},
		{"rotation: second v1 matches", "t=" + good[2:12] + ",v1=" + string(make([]byte, 0)) + "00000000000000000000000000000000000000000000000000000000000000ff," + good[13:], body, now, nil},
		{"no v1", "t=1", body, now, webhook.ErrMalformed},
		{"no t", good[13:], body, now, webhook.ErrMalformed},
		{"bad hex", "t=1,v1=zz", body, now, webhook.ErrMalformed},
		{"empty", "", body, now, webhook.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhook.Verify(secret, tt.header, tt.body, tt.now, webhook.DefaultTolerance)
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify(%q) = %v, want %v", tt.header, err, tt.want)
			}
		})
	}
}
