package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The SSE parser and the backoff are internal; the rest of the agent is
// tested against the real handlers in httpapi.

func TestReadEvents(t *testing.T) {
	tests := []struct {
		name, stream string
		want         []event
	}{
		{"one event", "event: request\ndata: {}\n\n", []event{{"request", "{}"}}},
		{"comments and CRLF", ": heartbeat\r\n\r\nevent: gone\r\ndata: {\"a\":1}\r\n\r\n", []event{{"gone", `{"a":1}`}}},
		{"unnamed event", "data: x\n\n", []event{{"message", "x"}}},
		{"multi-line data", "event: e\ndata: a\ndata: b\n\n", []event{{"e", "a\nb"}}},
		{"no space after colon", "event:e\ndata:x\n\n", []event{{"e", "x"}}},
		{"unknown fields ignored", "id: 7\nretry: 10\nevent: e\ndata: x\n\n", []event{{"e", "x"}}},
		{"event without data is dropped", "event: e\n\n", nil},
		{"unterminated event is dropped", "event: e\ndata: x\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []event
			err := readEvents(strings.NewReader(tt.stream), func(ev event) error {
				got = append(got, ev)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(event{})); diff != "" {
				t.Errorf("readEvents(%q) (-want +got):\n%s", tt.stream, diff)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	a := &Agent{RetryMin: time.Second, RetryMax: 30 * time.Second}
	for n, base := range []time.Duration{1, 2, 4, 8, 16, 30, 30, 30} {
		base *= time.Second
		for range 50 {
			if got := a.backoff(n); got < base/2 || got > base {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, got, base/2, base)
			}
		}
	}
	if got := a.backoff(1000); got > 30*time.Second {
		t.Errorf("backoff(1000) = %v, want at most 30s", got)
	}
	var zero Agent
	if got := zero.backoff(0); got < DefaultRetryMin/2 || got > DefaultRetryMin {
		t.Errorf("default backoff(0) = %v, want within [%v, %v]", got, DefaultRetryMin/2, DefaultRetryMin)
	}
}
