package notify

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Backoff returns the delay before the attempt after attempt failed ones:
// exponential, base·2^(attempt-1) capped at max, with "full jitter" (the
// delay is that bound scaled by rnd, a number in [0, 1]), so that clients
// whose endpoints failed together do not all retry together. An attempt
// below 1 counts as 1.
func Backoff(attempt int, base, max time.Duration, rnd float64) time.Duration {
	bound := max
	if attempt < 1 {
		attempt = 1
	}
	// base<<(attempt-1) without overflow: stop doubling once past max.
	if attempt-1 < 63 && base > 0 {
		if d := base << (attempt - 1); d>>(attempt-1) == base && d > 0 && d < max {
			bound = d
		}
	}
	rnd = math.Min(math.Max(rnd, 0), 1)
	return time.Duration(rnd * float64(bound))
}

// retryAfter parses a Retry-After field (RFC 9110 §10.2.3): either
// delay-seconds or an HTTP-date, relative to now. It reports false for
// an absent or malformed field; a date in the past gives 0.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		// delay-seconds is 1*DIGIT: no sign, no fraction.
		if secs > uint64(math.MaxInt64/int64(time.Second)) {
			return math.MaxInt64, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v) // IMF-fixdate and the two obsolete forms, RFC 9110 §5.6.7
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
