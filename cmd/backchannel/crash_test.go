package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/backchannel/backchannel/device/agent"
)

// crashed is one request of TestCrashRecovery as the test saw it.
type crashed struct {
	authReqID string
	ping      bool
	// approved: Decide returned nil. redeemed: a poll returned tokens.
	approved, redeemed bool
	// decideUnsure and pollUnsure: the call was cut by a kill, so the
	// server may or may not have acted on it.
	decideUnsure, pollUnsure bool
	lastPoll                 time.Time
}

// process is a serve process that the test can kill.
type process struct {
	cmd    *exec.Cmd
	done   chan struct{}
	stderr *lockedBuffer
}

// crashAttemptTimeout is the killable server's notify.attempt_timeout.
const crashAttemptTimeout = 2 * time.Second

func startKillable(t *testing.T, bin, addr, dsn, adminToken string) *process {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--dev", "--addr", addr, "--issuer", "http://"+addr, "--db", dsn)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(),
		"BACKCHANNEL_ADMIN_TOKEN="+adminToken, "BACKCHANNEL_CIBA_INTERVAL=1s",
		// The test is the only client: no fatigue limits in its way.
		"BACKCHANNEL_CIBA_MAX_PENDING_PER_USER=0", "BACKCHANNEL_CIBA_MAX_PENDING_PER_CLIENT_USER=0",
		"BACKCHANNEL_CIBA_CLIENT_RATE=0", "BACKCHANNEL_CIBA_HINT_RATE=0",
		// A short attempt timeout keeps the claim lease short: a row
		// the killed server had claimed is retried once it lapses.
		"BACKCHANNEL_NOTIFY_ATTEMPT_TIMEOUT="+crashAttemptTimeout.String())
	p := &process{cmd: cmd, done: make(chan struct{}), stderr: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = io.Discard, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("serve exited at start:\n%s", p.stderr.String())
		case <-time.After(30 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", p.stderr.String())
		}
	}
}

// kill sends SIGKILL: no shutdown, no deferred work, as in a power cut
// of the process.
func (p *process) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// TestCrashRecovery runs serve as a separate process on SQLite under a
// mixed load of poll and ping requests, approvals and polls, kills it
// with SIGKILL at a random moment, restarts it on the same database and
// checks the invariants of issue 8: an approved request is redeemed at
// most once, and still redeemable if it was not; a pending request is
// still pending and still shown to the device; every approved ping
// request is notified after the restart; the database passes its
// integrity check (SQLite). It runs on SQLite, and on PostgreSQL when
// BACKCHANNEL_TEST_POSTGRES is set. BACKCHANNEL_CRASH_ROUNDS sets the
// number of kills (default 3); the long run is
//
//	BACKCHANNEL_CRASH_ROUNDS=200 go test -run '^TestCrashRecovery$' -timeout 2h ./cmd/backchannel
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("BACKCHANNEL_CRASH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("sqlite", func(t *testing.T) {
		dbPath := filepath.Join(t.TempDir(), "backchannel.db")
		crashRounds(t, bin, "sqlite:"+dbPath, rounds, func() error { return integrityCheck(dbPath) })
	})
	t.Run("postgres", func(t *testing.T) {
		crashRounds(t, bin, postgresTestSchema(t), rounds, func() error { return nil })
	})
}

// crashRounds runs the load, kill and check rounds of TestCrashRecovery
// on the database dsn; check checks the database after each kill.
func crashRounds(t *testing.T, bin, dsn string, rounds int, check func() error) {
	addr := freeAddr(t)
	issuer := "http://" + addr
	adminToken := randomHex(t)
	ctx := t.Context()
	hc := &http.Client{Timeout: 10 * time.Second}

	var pingMu sync.Mutex
	pinged := map[string]bool{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			AuthReqID string `json:"auth_req_id"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		pingMu.Lock()
		pinged[body.AuthReqID] = true
		pingMu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	srv := startKillable(t, bin, addr, dsn, adminToken)
	admin := func(path string, body any) map[string]any {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, issuer+path, strings.NewReader(string(b)))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		return doJSON(t, hc, req, http.StatusCreated)
	}
	admin("/admin/v1/users", map[string]any{"sub": "u-crash", "email": "crash@example.jp"})
	enrol := admin("/admin/v1/enrolments", map[string]any{"subject": "u-crash"})
	creds, err := agent.Register(ctx, hc, issuer, enrol["code"].(string), "phone")
	if err != nil {
		t.Fatal(err)
	}
	phone, err := agent.New(ctx, hc, creds)
	if err != nil {
		t.Fatal(err)
	}
	grants := []string{"urn:openid:params:grant-type:ciba"}
	poller := admin("/admin/v1/clients", map[string]any{"client_name": "Poller", "grant_types": grants})
	pinger := admin("/admin/v1/clients", map[string]any{"client_name": "Pinger", "grant_types": grants,
		"backchannel_token_delivery_mode": "ping", "backchannel_client_notification_endpoint": receiver.URL})

	post := func(path string, c map[string]any, form url.Values) (int, map[string]any, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, issuer+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(c["client_id"].(string)), url.QueryEscape(c["client_secret"].(string)))
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			return 0, nil, err
		}
		return resp.StatusCode, m, nil
	}

	var mu sync.Mutex
	byBinding := map[string]*crashed{}
	n := 0
	// poll polls r unless it is too early (the server would answer
	// slow_down and grow the interval) and records the outcome. strict
	// says the outcome must be settled: r's approval and earlier polls
	// all got answers.
	poll := func(r *crashed, verify bool) {
		mu.Lock()
		if time.Since(r.lastPoll) < 1200*time.Millisecond {
			mu.Unlock()
			return
		}
		r.lastPoll = time.Now()
		c := poller
		if r.ping {
			c = pinger
		}
		mu.Unlock()
		status, body, err := post("/token", c, url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {r.authReqID}})
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if verify {
				t.Errorf("poll after restart: %v", err)
			}
			r.pollUnsure = true
			return
		}
		code, _ := body["error"].(string)
		switch {
		case status == http.StatusOK && r.redeemed:
			t.Errorf("request %s redeemed twice", r.authReqID[:8])
		case status == http.StatusOK && !r.approved && !r.decideUnsure:
			t.Errorf("request %s redeemed without an approval", r.authReqID[:8])
		case status == http.StatusOK:
			r.redeemed, r.approved = true, true
		case code == "invalid_grant" && r.approved && !r.redeemed && !r.pollUnsure:
			t.Errorf("approved request %s lost: poll = %v, want tokens", r.authReqID[:8], body)
		case code == "invalid_grant" && r.pollUnsure:
			r.redeemed = true // the cut poll had redeemed it
		case code == "authorization_pending" && r.approved:
			t.Errorf("approved request %s is pending again", r.authReqID[:8])
		case code == "authorization_pending", code == "invalid_grant" && r.redeemed:
		default:
			t.Errorf("poll of request %s = %d %v", r.authReqID[:8], status, body)
		}
	}

	for round := range rounds {
		// Load: start, approve and poll until the kill.
		loadCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for w := range 3 {
			wg.Go(func() {
				for loadCtx.Err() == nil {
					switch rand.IntN(3) {
					case 0:
						mu.Lock()
						n++
						binding := fmt.Sprintf("Order %d", n)
						ping := w == 0
						mu.Unlock()
						c, form := poller, url.Values{"scope": {"openid"}, "login_hint": {"crash@example.jp"}, "binding_message": {binding}}
						if ping {
							c = pinger
							form.Set("client_notification_token", randomHex(t))
						}
						status, body, err := post("/bc-authorize", c, form)
						if err != nil || status != http.StatusOK {
							continue // cut by the kill: the test never learns the id
						}
						mu.Lock()
						byBinding[binding] = &crashed{authReqID: body["auth_req_id"].(string), ping: ping, lastPoll: time.Now()}
						mu.Unlock()
					case 1:
						pending, err := phone.Pending(loadCtx)
						if err != nil || len(pending) == 0 {
							continue
						}
						s := pending[rand.IntN(len(pending))]
						mu.Lock()
						r := byBinding[s.BindingMessage]
						mu.Unlock()
						if r == nil || rand.IntN(2) == 0 {
							continue // leave some pending
						}
						err = phone.Decide(loadCtx, s, true)
						mu.Lock()
						if err == nil {
							r.approved = true
						} else {
							r.decideUnsure = true
						}
						mu.Unlock()
					case 2:
						mu.Lock()
						var approved []*crashed
						for _, r := range byBinding {
							if r.approved && !r.redeemed && !r.ping {
								approved = append(approved, r)
							}
						}
						mu.Unlock()
						if len(approved) > 0 {
							poll(approved[rand.IntN(len(approved))], false)
						}
					}
				}
			})
		}
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		srv.kill()
		stop()
		wg.Wait()

		if err := check(); err != nil {
			t.Fatalf("round %d: after SIGKILL: %v", round, err)
		}
		srv = startKillable(t, bin, addr, dsn, adminToken)
		time.Sleep(1200 * time.Millisecond) // one polling interval

		// Verify every request the test knows of.
		shown := map[string]bool{}
		pending, err := phone.Pending(ctx)
		if err != nil {
			t.Fatalf("round %d: Pending after restart: %v", round, err)
		}
		for _, s := range pending {
			shown[s.BindingMessage] = true
		}
		mu.Lock()
		all := make(map[string]*crashed, len(byBinding))
		for b, r := range byBinding {
			all[b] = r
		}
		mu.Unlock()
		for binding, r := range all {
			if !r.approved && !r.decideUnsure && !shown[binding] {
				t.Errorf("round %d: pending request %q is no longer shown to the device", round, binding)
			}
			if !r.ping || !r.approved {
				poll(r, true)
			}
		}
		var approved, redeemed int
		mu.Lock()
		for _, r := range all {
			if r.approved {
				approved++
			}
			if r.redeemed {
				redeemed++
			}
		}
		mu.Unlock()
		t.Logf("round %d: %d requests known, %d approved, %d redeemed", round, len(all), approved, redeemed)
		if t.Failed() {
			t.Fatalf("serve logged:\n%s", srv.stderr.String())
		}
	}

	// Every approved ping request is notified, crashes notwithstanding:
	// a row the last killed server had claimed goes out when its lease
	// (attempt timeout + notify's 30 s margin) lapses, so wait longer.
	waitFor(t, "pings of every approved ping request", crashAttemptTimeout+45*time.Second, func() bool {
		pingMu.Lock()
		defer pingMu.Unlock()
		mu.Lock()
		defer mu.Unlock()
		for _, r := range byBinding {
			if r.ping && r.approved && !pinged[r.authReqID] {
				return false
			}
		}
		return true
	})
	srv.kill()
	if err := check(); err != nil {
		t.Fatal(err)
	}
}

// integrityCheck runs SQLite's integrity check on the database file.
func integrityCheck(path string) error {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	return nil
}
