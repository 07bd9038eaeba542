package store_test

import (
	"testing"
	"time"

	"github.com/backchannel/backchannel/store"
)

func TestNewID(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		id := store.NewID(t0.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 32 {
			t.Fatalf("NewID = %q, %d characters, want 32", id, len(id))
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
		if id[:10] <= prev {
			t.Fatalf("NewID time prefix %q after %q: not in time order", id[:10], prev)
		}
		prev = id[:10]
	}
	// The same millisecond: the same prefix, different IDs.
	a, b := store.NewID(t0), store.NewID(t0)
	if a[:10] != b[:10] || a == b {
		t.Errorf("two IDs of one millisecond: %q, %q", a, b)
	}
	// Far apart times keep their order too.
	if x, y := store.NewID(time.Unix(0, 0)), store.NewID(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)); x[:10] >= y[:10] {
		t.Errorf("NewID(1970) %q does not sort before NewID(3000) %q", x, y)
	}
}
