package ciba

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// Fatigue bounds what a relying party can ask of one user, against
// approval fatigue ("push bombing": a flood of requests until the user
// approves one to make them stop). Zero fields turn their limit off; the
// server's configuration supplies the defaults (ciba.max_pending_per_user
// 5, ciba.max_pending_per_client_user 2, and the rates in README).
type Fatigue struct {
	// MaxPendingPerUser caps the pending requests of one user, from all
	// clients.
	MaxPendingPerUser int
	// MaxPendingPerClientUser caps the pending requests of one user from
	// one client.
	//
	// The caps are counted (Store.PendingRequests, at most a cap's worth
	// of rows) before the request is stored, not in the same
	// transaction: requests racing each other may pass a cap by the
	// number in flight. Upgrade path: a conditional insert in
	// Store.CreateRequest if that ever matters; a bomber is held by the
	// rate limits first.
	MaxPendingPerClientUser int
	// ClientRate (requests per second) and ClientBurst limit the requests
	// one client starts.
	ClientRate  rate.Limit
	ClientBurst int
	// HintRate and HintBurst limit the requests started for one user,
	// whatever hint named them, so that switching between a user's email
	// and phone number does not escape the limit.
	HintRate  rate.Limit
	HintBurst int
	// PollRate (polls per second) and PollBurst limit the token requests
	// for one auth_req_id. A client polling one request in a tight loop
	// first gets slow_down, which the store records; past this limit it
	// is refused before the store is touched, so it cannot load the
	// database, and other requests and clients are unaffected.
	PollRate  rate.Limit
	PollBurst int
	// NumberMatching makes every request carry a two-digit code that the
	// relying party shows and the user must pick on the device among
	// decoys (Started.MatchingNumber, Summary.NumberChoices).
	NumberMatching bool
}

// RateLimitObserver is implemented by Observers that count requests
// refused by a rate limit (metrics.Metrics).
type RateLimitObserver interface {
	RateLimited(scope string)
}

// NotMeObserver is implemented by Observers that count "this wasn't me"
// reports (metrics.Metrics).
type NotMeObserver interface {
	ReportedNotMe(clientID string)
}

// maxLimiters bounds each limiter table. When it is full the table is
// reset: limits are forgotten for everyone at once, which errs on the side
// of admitting requests and keeps memory bounded whatever the traffic.
// Upgrade path: a shared limiter in the database for multi-instance
// deployments (each instance limits on its own today).
const maxLimiters = 100_000

// limiters is a table of token buckets by key, kept in process.
type limiters struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func (l *limiters) allow(key string, r rate.Limit, burst int, now time.Time) bool {
	if r <= 0 {
		return true
	}
	burst = max(burst, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) >= maxLimiters {
		l.m = map[string]*rate.Limiter{}
	}
	lim, ok := l.m[key]
	if !ok {
		lim = rate.NewLimiter(r, burst)
		l.m[key] = lim
	}
	return lim.AllowN(now, 1)
}

// rateLimited is the refusal of a request over a rate limit. CIBA Core
// §13 has no rate-limit code, and slow_down belongs to the token endpoint
// (CIBA Core §11), so the code is access_denied, which every CIBA client
// understands as "refused by policy"; the status is 429 (RFC 6585 §4)
// rather than §13's 403, so that HTTP clients and proxies see a limit
// that lifts with time, unlike the pending caps' 403.
func rateLimited(what string) error {
	return oauth.Errorf(oauth.AccessDenied, "too many requests for this %s; try again later", what).WithStatus(http.StatusTooManyRequests)
}

// checkClientRate applies the rate limit of client c. Start checks it
// before it resolves the user, so that every request counts.
func (s *Service) checkClientRate(c store.Client, now time.Time) error {
	if !s.clientLimits.allow(c.ID, s.Fatigue.ClientRate, s.Fatigue.ClientBurst, now) {
		s.observeRateLimited("client")
		return rateLimited("client")
	}
	return nil
}

// checkPollRate applies the per-request poll limit to a token request
// for the request whose auth_req_id hashes to h.
func (s *Service) checkPollRate(c store.Client, h []byte, now time.Time) error {
	if !s.pollLimits.allow(c.ID+"/"+string(h), s.Fatigue.PollRate, s.Fatigue.PollBurst, now) {
		s.observeRateLimited("poll")
		// The token endpoint's own code for polling too fast (CIBA Core
		// §11), with 429 (RFC 6585 §4): this answer did not even look
		// the request up.
		return oauth.Errorf(oauth.SlowDown, "polling far faster than the interval; wait before polling again").WithStatus(http.StatusTooManyRequests)
	}
	return nil
}

// checkFatigue applies the per-user rate limit and the pending caps to a new
// request of client c for user sub.
func (s *Service) checkFatigue(ctx context.Context, c store.Client, sub string, now time.Time) error {
	f := s.Fatigue
	if !s.hintLimits.allow(sub, f.HintRate, f.HintBurst, now) {
		s.observeRateLimited("hint")
		return rateLimited("user")
	}
	if f.MaxPendingPerUser <= 0 && f.MaxPendingPerClientUser <= 0 {
		return nil
	}
	pending, err := s.Store.PendingRequests(ctx, sub, now)
	if err != nil {
		return fmt.Errorf("count pending requests: %w", err)
	}
	perPair := 0
	for _, r := range pending {
		if r.ClientID == c.ID {
			perPair++
		}
	}
	// CIBA Core §13: access_denied (403) for a request the OP's policy
	// refuses.
	if f.MaxPendingPerUser > 0 && len(pending) >= f.MaxPendingPerUser {
		return oauth.Errorf(oauth.AccessDenied, "the user already has %d pending requests; wait until they are answered or expire", len(pending)).WithStatus(http.StatusForbidden)
	}
	if f.MaxPendingPerClientUser > 0 && perPair >= f.MaxPendingPerClientUser {
		return oauth.Errorf(oauth.AccessDenied, "the user already has %d pending requests from this client; wait until they are answered or expire", perPair).WithStatus(http.StatusForbidden)
	}
	return nil
}

func (s *Service) observeRateLimited(scope string) {
	if o, ok := s.Observer.(RateLimitObserver); ok {
		o.RateLimited(scope)
	}
}

func (s *Service) observeNotMe(clientID string) {
	if o, ok := s.Observer.(NotMeObserver); ok {
		o.ReportedNotMe(clientID)
	}
}

// ReasonNotMe is the Decision.Reason of a denial the user reported as
// "this wasn't me": a request they did not start.
const ReasonNotMe = "not_me"

// ReasonWrongNumber is the Decision.Reason of an approval that picked
// the wrong number under number matching, which counts as a denial.
const ReasonWrongNumber = "wrong_number"

// numberChoices returns the number-matching code of the request whose
// auth_req_id hashes to h, and the three choices the device shows: the
// code and two decoys, in an order that depends on h. They derive from
// the hash of the auth_req_id, a secret of the client, so the device
// cannot tell the code from the decoys, and nothing more needs storing.
func numberChoices(h []byte) (code string, choices []string) {
	d := sha256.Sum256(append([]byte("backchannel number matching\x00"), h...))
	pick := func(i int) int { return 10 + int(binary.BigEndian.Uint16(d[2*i:]))%90 }
	c := pick(0)
	nums := []int{c}
	for i := 1; len(nums) < 3; i++ {
		n := pick(i)
		if i >= 15 { // practically never: fall back to distinct neighbours
			n = 10 + (nums[len(nums)-1]-10+37)%90
		}
		if !containsInt(nums, n) {
			nums = append(nums, n)
		}
	}
	pos := int(d[31]) % 3
	nums[0], nums[pos] = nums[pos], nums[0]
	for _, n := range nums {
		choices = append(choices, strconv.Itoa(n))
	}
	return strconv.Itoa(c), choices
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
