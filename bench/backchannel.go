package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/device/agent"
)

// BackchannelConfig says how to reach a backchannel server.
type BackchannelConfig struct {
	Issuer     string
	AdminURL   string // defaults to Issuer
	AdminToken string
	// NotifyURL is where the server delivers ping and push notifications:
	// the tool's receiver. --dev allows loopback http endpoints.
	NotifyURL string
}

// bcUser is one simulated user and its enrolled device.
type bcUser struct {
	hint  string
	agent *agent.Agent
	seen  chan ciba.Summary // what the device's stream delivered
}

// backchannelTarget drives backchannel. Each relying party i has its own
// user, whose device streams the user's requests (GET /device/v1/… as
// server-sent events) and signs the decision with its enrolled P-256 key,
// as a phone would.
type backchannelTarget struct {
	hc      *http.Client
	ep      endpoints
	rp      map[Workload]*oauthClient
	users   []*bcUser // one per relying party, streamed
	idle    []string  // login_hints of users for pending and initiate runs
	recv    *receiver
	cancel  context.CancelFunc
	streams sync.WaitGroup
	seq     atomic.Int64
	think   time.Duration // the device's delay in pollwait flows
}

// newBackchannel creates, through the admin API, one client per delivery
// mode, concurrency users with a streamed device each, and idle users with
// a device (a user without one cannot be asked) for the pending and
// initiate runs.
func newBackchannel(ctx context.Context, cfg BackchannelConfig, concurrency, idle int, think time.Duration, recv *receiver, log func(string, ...any)) (*backchannelTarget, error) {
	if cfg.AdminURL == "" {
		cfg.AdminURL = cfg.Issuer
	}
	hc := newHTTPClient(concurrency)
	ep, err := discover(ctx, hc, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	if think <= 0 {
		think = 1500 * time.Millisecond
	}
	t := &backchannelTarget{hc: hc, ep: ep, rp: map[Workload]*oauthClient{}, recv: recv, think: think}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, m := range []struct {
		w    Workload
		mode string
	}{{Poll, "poll"}, {Ping, "ping"}, {Push, "push"}} {
		meta := map[string]any{
			"client_id":                       "bench-" + run + "-" + m.mode,
			"client_name":                     "Load test (" + m.mode + ")",
			"grant_types":                     []string{"urn:openid:params:grant-type:ciba"},
			"token_endpoint_auth_method":      "client_secret_basic",
			"backchannel_token_delivery_mode": m.mode,
		}
		if m.mode != "poll" {
			meta["backchannel_client_notification_endpoint"] = cfg.NotifyURL
		}
		var out struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := adminDo(ctx, hc, cfg.AdminURL, cfg.AdminToken, "/clients", meta, &out); err != nil {
			return nil, err
		}
		t.rp[m.w] = &oauthClient{hc: hc, id: out.ClientID, secret: out.ClientSecret}
	}
	sctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	log("backchannel: enrolling %d users with a device each", concurrency+idle)
	for i := range concurrency + idle {
		name := fmt.Sprintf("bench-%s-%d", run, i)
		if err := adminDo(ctx, hc, cfg.AdminURL, cfg.AdminToken, "/users", map[string]any{"sub": name, "preferred_username": name}, &json.RawMessage{}); err != nil {
			t.close()
			return nil, err
		}
		var enr struct {
			Code string `json:"code"`
		}
		if err := adminDo(ctx, hc, cfg.AdminURL, cfg.AdminToken, "/enrolments", map[string]string{"subject": name}, &enr); err != nil {
			t.close()
			return nil, err
		}
		creds, err := agent.Register(ctx, hc, cfg.Issuer, enr.Code, "load test")
		if err != nil {
			t.close()
			return nil, fmt.Errorf("register device: %w", err)
		}
		if i >= concurrency {
			t.idle = append(t.idle, name)
			continue
		}
		a, err := agent.New(ctx, hc, creds)
		if err != nil {
			t.close()
			return nil, err
		}
		u := &bcUser{hint: name, agent: a, seen: make(chan ciba.Summary, 64)}
		t.users = append(t.users, u)
		t.streams.Go(func() {
			a.Stream(sctx, func(s ciba.Summary) error {
				select {
				case u.seen <- s:
				default: // a stale summary nobody waits for
				}
				return nil
			})
		})
	}
	return t, nil
}

func (t *backchannelTarget) name() string { return "backchannel" }

func (t *backchannelTarget) close() {
	if t.cancel != nil {
		t.cancel()
	}
	t.streams.Wait()
}

func (t *backchannelTarget) flow(ctx context.Context, w Workload, i int, rec *recorder) error {
	fail := func(err error) error { rec.fail(code(err)); return err }
	if w == Initiate {
		start := time.Now()
		rec.request()
		err := t.rp[Poll].post(ctx, t.ep.Backchannel, url.Values{
			"scope":           {"openid"},
			"login_hint":      {t.idle[i%len(t.idle)]},
			"binding_message": {"i" + strconv.FormatInt(t.seq.Add(1), 36)},
		}, &started{})
		if err != nil {
			return fail(err)
		}
		rec.step("initiate", start)
		return nil
	}
	if w == PollWait {
		return t.pollWait(ctx, i, rec)
	}
	u := t.users[i]
	rp := t.rp[w]
	binding := "b" + strconv.FormatInt(t.seq.Add(1), 36)
	form := url.Values{"scope": {"openid"}, "login_hint": {u.hint}, "binding_message": {binding}}
	var note chan []byte
	if w != Poll {
		tok := strconv.FormatInt(time.Now().UnixNano(), 36) + binding
		form.Set("client_notification_token", tok)
		note = t.recv.expect(tok)
		defer t.recv.forget(tok)
	}
	start := time.Now()
	var s started
	rec.request()
	if err := rp.post(ctx, t.ep.Backchannel, form, &s); err != nil {
		return fail(err)
	}
	rec.step("initiate", start)
	// The device: its stream shows the request; it signs an approval.
	var sum ciba.Summary
	for sum.BindingMessage != binding {
		var err error
		if sum, err = wait(ctx, u.seen, 10*time.Second); err != nil {
			return fail(err)
		}
	}
	rec.step("initiate→device", start)
	decided := time.Now()
	rec.request()
	if err := u.agent.Decide(ctx, sum, true); err != nil {
		return fail(&errorCode{Code: "decide_failed"})
	}
	rec.step("approve", decided)
	switch w {
	case Ping:
		if _, err := wait(ctx, note, 10*time.Second); err != nil {
			return fail(err)
		}
		rec.step("approve→ping", decided)
	case Push:
		b, err := wait(ctx, note, 10*time.Second)
		if err != nil {
			return fail(err)
		}
		var tk tokens
		if err := json.Unmarshal(b, &tk); err != nil || tk.check() != nil {
			return fail(&errorCode{Code: "no_tokens"})
		}
		rec.step("approve→push", decided)
		return nil
	}
	tokStart := time.Now()
	rec.request()
	if _, err := rp.token(ctx, t.ep.Token, s.AuthReqID); err != nil {
		return fail(err)
	}
	rec.step("token", tokStart)
	return nil
}

// pendingSetup makes n pending requests of the idle users, long-lived so
// they outlast the run.
func (t *backchannelTarget) pendingSetup(ctx context.Context, n int) ([]string, time.Duration, error) {
	return initiateMany(ctx, n, func(ctx context.Context, k int) (started, error) {
		var s started
		err := t.rp[Poll].post(ctx, t.ep.Backchannel, url.Values{
			"scope":            {"openid"},
			"login_hint":       {t.idle[k%len(t.idle)]},
			"binding_message":  {"p" + strconv.Itoa(k)},
			"requested_expiry": {"1800"},
		}, &s)
		return s, err
	})
}

func (t *backchannelTarget) poll(ctx context.Context, id string, rec *recorder) (string, time.Duration, error) {
	rec.request()
	_, err := t.rp[Poll].token(ctx, t.ep.Token, id)
	return pollOutcome(err)
}

// pollOutcome turns a token answer to a pending request into its code and,
// for slow_down, the new interval (CIBA Core §11, RFC 8628 §3.5: +5 s).
func pollOutcome(err error) (string, time.Duration, error) {
	if err == nil {
		return "", 0, nil
	}
	if e, ok := err.(*errorCode); ok {
		return e.Code, 0, nil
	}
	return "", 0, err
}

// initiateMany makes n requests with 32 concurrent initiators and returns
// their auth_req_ids and the largest interval the server sent.
func initiateMany(ctx context.Context, n int, initiate func(context.Context, int) (started, error)) ([]string, time.Duration, error) {
	ids := make([]string, n)
	var interval atomic.Int64
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for k := int(next.Add(1)) - 1; k < n; k = int(next.Add(1)) - 1 {
				s, err := initiate(ctx, k)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				ids[k] = s.AuthReqID
				if iv := s.Interval; iv > interval.Load() {
					interval.Store(iv)
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, 0, firstErr
	}
	return ids, time.Duration(interval.Load()) * time.Second, nil
}

// pollWait is one PollWait flow of relying party i: it polls from the
// start at the interval the server sent (growing it on slow_down) while
// the device waits t.think and approves; approve→token is the time from
// the approval to the tokens in hand.
func (t *backchannelTarget) pollWait(ctx context.Context, i int, rec *recorder) error {
	fail := func(err error) error { rec.fail(code(err)); return err }
	u := t.users[i]
	rp := t.rp[Poll]
	binding := "w" + strconv.FormatInt(t.seq.Add(1), 36)
	start := time.Now()
	var s started
	rec.request()
	if err := rp.post(ctx, t.ep.Backchannel, url.Values{"scope": {"openid"}, "login_hint": {u.hint}, "binding_message": {binding}}, &s); err != nil {
		return fail(err)
	}
	rec.step("initiate", start)
	type polled struct {
		at  time.Time
		err error
	}
	got := make(chan polled, 1)
	pollCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		interval := time.Duration(s.Interval) * time.Second
		for {
			select {
			case <-time.After(interval):
			case <-pollCtx.Done():
				got <- polled{err: pollCtx.Err()}
				return
			}
			rec.request()
			_, err := rp.token(pollCtx, t.ep.Token, s.AuthReqID)
			c, _, err := pollOutcome(err)
			switch {
			case err != nil:
				got <- polled{err: err}
				return
			case c == "":
				got <- polled{at: time.Now()}
				return
			case c == "slow_down":
				rec.fail(c)
				interval += 5 * time.Second
			case c != "authorization_pending":
				got <- polled{err: &errorCode{Code: c}}
				return
			}
		}
	}()
	var sum ciba.Summary
	for sum.BindingMessage != binding {
		var err error
		if sum, err = wait(ctx, u.seen, 10*time.Second); err != nil {
			return fail(err)
		}
	}
	select {
	case <-time.After(t.think):
	case <-ctx.Done():
		return ctx.Err()
	}
	decided := time.Now()
	rec.request()
	if err := u.agent.Decide(ctx, sum, true); err != nil {
		return fail(&errorCode{Code: "decide_failed"})
	}
	rec.step("approve", decided)
	p := <-got
	if p.err != nil {
		return fail(p.err)
	}
	rec.step("approve→token", decided)
	return nil
}
