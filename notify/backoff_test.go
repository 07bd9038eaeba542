package notify_test

import (
	"testing"
	"time"

	"github.com/backchannel/backchannel/notify"
)

func TestBackoff(t *testing.T) {
	const (
		s   = time.Second
		max = 5 * time.Minute
	)
	tests := []struct {
		attempt   int
		base, max time.Duration
		rnd       float64
		want      time.Duration
	}{
		{1, s, max, 1, s},
		{2, s, max, 1, 2 * s},
		{3, s, max, 1, 4 * s},
		{9, s, max, 1, 256 * s},
		{10, s, max, 1, max}, // 512 s, capped
		{0, s, max, 1, s},    // below 1 counts as 1
		{-3, s, max, 1, s},
		{3, s, max, 0.5, 2 * s}, // full jitter scales the bound
		{3, s, max, 0, 0},
		{3, s, max, 0.999, 3996 * time.Millisecond},
		{3, s, max, 1.5, 4 * s}, // rnd clamped to [0, 1]
		{3, s, max, -1, 0},
		{1, 10 * time.Minute, max, 1, max}, // base above max
		{62, s, max, 1, max},               // shifts that overflow
		{63, s, max, 1, max},
		{64, s, max, 1, max},
		{1 << 30, s, max, 1, max},
		{2, time.Millisecond, 5 * time.Millisecond, 1, 2 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := notify.Backoff(tt.attempt, tt.base, tt.max, tt.rnd); got != tt.want {
			t.Errorf("Backoff(%d, %v, %v, %v) = %v, want %v", tt.attempt, tt.base, tt.max, tt.rnd, got, tt.want)
		}
	}
}
