package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// PeerConfig says how to reach the node-oidc-provider peer; see
// ../shared/peers/node-oidc-provider/README.md for its contract.
type PeerConfig struct {
	Issuer string // http://127.0.0.1:3000
	Users  int    // user1 … userN; 1000
}

// peerTarget drives the peer. Its approval is its test route, POST
// /test/approve/{auth_req_id}, standing in for its device.
type peerTarget struct {
	hc     *http.Client
	issuer string
	ep     endpoints
	poll_  *oauthClient
	ping   *oauthClient
	users  int
	recv   *receiver
	seq    atomic.Int64
}

func newPeer(ctx context.Context, cfg PeerConfig, concurrency int, recv *receiver) (*peerTarget, error) {
	hc := newHTTPClient(concurrency)
	ep, err := discover(ctx, hc, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	if cfg.Users <= 0 {
		cfg.Users = 1000
	}
	return &peerTarget{
		hc: hc, issuer: cfg.Issuer, ep: ep, users: cfg.Users, recv: recv,
		poll_: &oauthClient{hc: hc, id: "ciba-poll", secret: "ciba-poll-secret"},
		ping:  &oauthClient{hc: hc, id: "ciba-ping", secret: "ciba-ping-secret"},
	}, nil
}

func (t *peerTarget) name() string { return "peer" }
func (t *peerTarget) close()       {}

func (t *peerTarget) hint(k int) string { return "user" + strconv.Itoa(k%t.users+1) }

func (t *peerTarget) approve(ctx context.Context, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.issuer+"/test/approve/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return &errorCode{Code: fmt.Sprintf("approve_http_%d", resp.StatusCode), Status: resp.StatusCode}
	}
	return nil
}

func (t *peerTarget) flow(ctx context.Context, w Workload, i int, rec *recorder) error {
	fail := func(err error) error { rec.fail(code(err)); return err }
	k := t.seq.Add(1)
	binding := "b" + strconv.FormatInt(k, 36)
	form := url.Values{"scope": {"openid"}, "login_hint": {t.hint(int(k))}, "binding_message": {binding}}
	rp := t.poll_
	var note chan []byte
	switch w {
	case Push:
		return fail(&errorCode{Code: "push_unsupported"})
	case Ping:
		rp = t.ping
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
	if w == Initiate {
		return nil
	}
	decided := time.Now()
	rec.request()
	if err := t.approve(ctx, s.AuthReqID); err != nil {
		return fail(err)
	}
	rec.step("approve", decided)
	if w == Ping {
		if _, err := wait(ctx, note, 10*time.Second); err != nil {
			return fail(err)
		}
		rec.step("approve→ping", decided)
	}
	tokStart := time.Now()
	rec.request()
	if _, err := rp.token(ctx, t.ep.Token, s.AuthReqID); err != nil {
		return fail(err)
	}
	rec.step("token", tokStart)
	return nil
}

func (t *peerTarget) pendingSetup(ctx context.Context, n int) ([]string, time.Duration, error) {
	return initiateMany(ctx, n, func(ctx context.Context, k int) (started, error) {
		var s started
		err := t.poll_.post(ctx, t.ep.Backchannel, url.Values{
			"scope":           {"openid"},
			"login_hint":      {t.hint(k)},
			"binding_message": {"p" + strconv.Itoa(k)},
		}, &s)
		return s, err
	})
}

func (t *peerTarget) poll(ctx context.Context, id string, rec *recorder) (string, time.Duration, error) {
	rec.request()
	_, err := t.poll_.token(ctx, t.ep.Token, id)
	return pollOutcome(err)
}
