package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/oauth"
)

// Defaults of the Agent's stream settings.
const (
	DefaultRetryMin = time.Second
	DefaultRetryMax = 30 * time.Second
	// DefaultIdleTimeout is three of the server's 15-second heartbeats:
	// a stream silent for that long is taken for dead.
	DefaultIdleTimeout = 45 * time.Second
)

// maxEventBytes bounds one line of the event stream.
const maxEventBytes = 256 << 10

// Stream follows the user's pending requests and calls fn once for each
// request, in the order they arrive, until ctx ends or fn returns an
// error. A request is not repeated after a reconnection unless the server
// said it was gone in between.
//
// Stream reconnects after a lost connection or a server error, waiting
// with exponential backoff and jitter. It gives up, returning the error,
// when the server refuses the device (a 4xx other than 408 and 429: a
// revoked device, say, or a clock too far off). It returns fn's error as
// it is, and ctx's error when ctx ends.
func (a *Agent) Stream(ctx context.Context, fn func(ciba.Summary) error) error {
	seen := make(map[string]bool)
	attempt := 0
	for {
		connected, err := a.streamOnce(ctx, seen, fn)
		var ferr *fnError
		switch {
		case errors.As(err, &ferr):
			return ferr.err
		case ctx.Err() != nil:
			return ctx.Err()
		case fatal(err):
			return err
		}
		if connected {
			attempt = 0 // the server was reachable; start over
		}
		wait := a.backoff(attempt)
		attempt++
		if err == nil {
			err = io.EOF // the server ended the stream, as it does from time to time
		}
		if a.OnRetry != nil {
			a.OnRetry(err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// fnError carries the callback's error out of streamOnce.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }

// fatal reports whether err means that retrying cannot help.
func fatal(err error) bool {
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		return false
	}
	s := oe.HTTPStatus()
	return s/100 == 4 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests
}

// backoff returns the wait before reconnection attempt n (from 0): a
// random duration between half and all of RetryMin·2ⁿ, capped at
// RetryMax. The jitter keeps devices from reconnecting in lockstep after
// a server restart.
func (a *Agent) backoff(n int) time.Duration {
	lo, hi := a.RetryMin, a.RetryMax
	if lo <= 0 {
		lo = DefaultRetryMin
	}
	if hi <= 0 {
		hi = DefaultRetryMax
	}
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}

// streamOnce reads one event stream until it ends. It reports whether the
// server accepted the stream.
func (a *Agent) streamOnce(ctx context.Context, seen map[string]bool, fn func(ciba.Summary) error) (bool, error) {
	// A connection that died without a reset (a phone that changed
	// networks, a NAT that forgot it) never ends a read; the idle timer
	// ends it when the heartbeats stop.
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := a.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	timer := time.AfterFunc(idle, cancel)
	defer timer.Stop()

	req, err := a.newRequest(ctx, http.MethodGet, "/requests", "", nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := a.streamClient().Do(req)
	if err != nil {
		if ctx.Err() != nil && parent.Err() == nil {
			err = fmt.Errorf("stream: no response within %v", idle)
		}
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		return false, responseError(resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return false, fmt.Errorf("stream: content type %q", ct)
	}
	body := &idleReader{r: resp.Body, timer: timer, idle: idle}
	err = readEvents(body, func(ev event) error {
		switch ev.name {
		case "request":
			var s ciba.Summary
			if err := json.Unmarshal([]byte(ev.data), &s); err != nil {
				return fmt.Errorf("stream: request event: %w", err)
			}
			if seen[s.RequestID] {
				return nil
			}
			seen[s.RequestID] = true
			if err := fn(s); err != nil {
				return &fnError{err}
			}
		case "gone":
			var g struct {
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(ev.data), &g); err != nil {
				return fmt.Errorf("stream: gone event: %w", err)
			}
			delete(seen, g.RequestID)
		}
		// Other events are for newer agents; the SSE rules say ignore.
		return nil
	})
	if ctx.Err() != nil && parent.Err() == nil {
		err = fmt.Errorf("stream: nothing received for %v", idle)
	}
	return true, err
}

// idleReader restarts timer whenever data arrives.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	idle  time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.timer.Reset(r.idle)
	}
	return n, err
}

// event is one server-sent event.
type event struct {
	name string // "message" when the server named none
	data string
}

// readEvents parses an event stream (HTML Living Standard, "Server-sent
// events", §9.2.6) and calls fn for each event. It returns nil when the
// stream ends cleanly and fn's error when fn fails.
func readEvents(r io.Reader, fn func(event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxEventBytes)
	var name string
	var data []string
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			if data != nil {
				ev := event{name: name, data: strings.Join(data, "\n")}
				if ev.name == "" {
					ev.name = "message"
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			name, data = "", nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment: the server's heartbeat
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			name = value
		case "data":
			data = append(data, value)
		}
	}
	return sc.Err()
}

// streamClient is the agent's client without its Timeout, which bounds a
// whole response: a stream is one response that lasts for minutes, and
// would be cut and reconnected every Timeout. The idle timer bounds it
// instead.
func (a *Agent) streamClient() *http.Client {
	if a.http.Timeout == 0 {
		return a.http
	}
	c := *a.http
	c.Timeout = 0
	return &c
}
