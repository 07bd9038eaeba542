package bench

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Workload is what the simulated relying parties do.
type Workload string

// The workloads. A flow is counted when its last step succeeds.
const (
	// Poll: backchannel request, the device's approval, one successful
	// token request.
	Poll Workload = "poll"
	// Ping: backchannel request with a client_notification_token, the
	// device's approval, the ping at the load tool's receiver, one
	// successful token request.
	Ping Workload = "ping"
	// Push: backchannel request, the device's approval, the tokens at the
	// receiver (backchannel only: the peer has no push mode).
	Push Workload = "push"
	// Pending: a storm of token requests against many pending requests,
	// each polled at its interval (see Config.Pending).
	Pending Workload = "pending"
	// Initiate: backchannel requests only.
	Initiate Workload = "initiate"
	// PollWait: poll flows as a spec-following client runs them: the
	// relying party polls from the start, at the interval the server
	// sent (slow_down honoured), while the device takes Config.Think to
	// approve. It measures approve→token, the time from the approval to
	// the tokens in hand, and the polls a flow costs: what long polling
	// (ciba.long_poll) changes. Backchannel only.
	PollWait Workload = "pollwait"
)

// Workloads lists every workload, in the order reports show them.
var Workloads = []Workload{Poll, Ping, Push, Pending, Initiate, PollWait}

// Config is one run's settings.
type Config struct {
	Workload    Workload
	Concurrency int           // simulated relying parties; 64
	Duration    time.Duration // measured time; 20 s
	Warmup      time.Duration // unmeasured time before it; 5 s
	// Pending is the number of pending requests the pending workload
	// keeps; each is polled once per interval, so the offered load is
	// Pending / interval polls per second. 20000.
	Pending int
	// PeerPending is the number of pending requests kept at the peer,
	// whose in-memory store is an LRU of about 1000 entries of all kinds:
	// more would be evicted and answer invalid_grant. 256.
	PeerPending int
	// PeerInterval is the wait between polls of one pending request at
	// the peer, which sends no interval. 0 polls again at once (closed
	// loop), as the peer's own measurement did.
	PeerInterval time.Duration
	// Think is how long the device of a pollwait flow waits after it
	// saw the request before it approves. 1.5 s.
	Think time.Duration
	// Rate, when above 0, paces the flow workloads: flows start at Rate
	// per second in all, each relying party starting one every
	// Concurrency/Rate seconds, so latencies can be read at a load below
	// saturation. A relying party whose flow outlasts its turn starts the
	// next at once; Concurrency bounds the flows in flight. 0 runs closed
	// loops, each starting its next flow when the last ends.
	Rate float64
	// ServerPID is the server's process, for CPU and RSS; 0 skips them.
	ServerPID int
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

func (c *Config) defaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.Duration <= 0 {
		c.Duration = 20 * time.Second
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	}
	if c.Pending <= 0 {
		c.Pending = 20000
	}
	if c.PeerPending <= 0 {
		c.PeerPending = 256
	}
	if c.Think <= 0 {
		c.Think = 1500 * time.Millisecond
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// Result is what one run measured.
type Result struct {
	Target      string
	Workload    Workload
	Concurrency int           // simulated relying parties
	Elapsed     time.Duration // the measured window
	Flows       int64         // completed in the window
	Requests    int64         // HTTP requests sent to the server in the window
	Steps       map[string]*Latencies
	Errors      map[string]int64 // by OAuth error code, HTTP status or cause
	// Offered is the pending workload's offered poll rate per second
	// (pending requests / interval); 0 for the other workloads.
	Offered float64
	CPU     time.Duration // server CPU time in the window
	RSSKiB  int64         // server RSS at the end
}

// FlowsPerSec is Flows per second of the window.
func (r *Result) FlowsPerSec() float64 { return float64(r.Flows) / r.Elapsed.Seconds() }

// RequestsPerSec is Requests per second of the window.
func (r *Result) RequestsPerSec() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// CPUPerFlow is the server's CPU time per completed flow.
func (r *Result) CPUPerFlow() time.Duration {
	if r.Flows == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Flows)
}

// Latencies holds the durations of one step.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *Latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Quantile returns the q-quantile (0 < q ≤ 1), or 0 without samples.
func (l *Latencies) Quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	if !sort.SliceIsSorted(l.d, func(i, j int) bool { return l.d[i] < l.d[j] }) {
		slices.Sort(l.d)
	}
	i := int(q*float64(len(l.d))+0.5) - 1
	return l.d[min(max(i, 0), len(l.d)-1)]
}

// Count returns the number of samples.
func (l *Latencies) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

// recorder collects one run's measurements; only those that end inside the
// measured window count.
type recorder struct {
	measuring atomic.Bool
	flows     atomic.Int64
	requests  atomic.Int64
	mu        sync.Mutex
	steps     map[string]*Latencies
	errors    map[string]int64
}

func newRecorder() *recorder {
	return &recorder{steps: map[string]*Latencies{}, errors: map[string]int64{}}
}

func (r *recorder) step(name string, start time.Time) {
	if !r.measuring.Load() {
		return
	}
	d := time.Since(start)
	r.mu.Lock()
	l := r.steps[name]
	if l == nil {
		l = &Latencies{}
		r.steps[name] = l
	}
	r.mu.Unlock()
	l.add(d)
}

func (r *recorder) request() {
	if r.measuring.Load() {
		r.requests.Add(1)
	}
}

func (r *recorder) flow() {
	if r.measuring.Load() {
		r.flows.Add(1)
	}
}

func (r *recorder) fail(code string) {
	if !r.measuring.Load() {
		return
	}
	r.mu.Lock()
	r.errors[code]++
	r.mu.Unlock()
}

// A target is a server the tool can drive.
type target interface {
	name() string
	// flow runs one flow of w for relying party i and reports its steps
	// to rec. It returns an error only for a failed flow, after counting
	// the failure with rec.fail.
	flow(ctx context.Context, w Workload, i int, rec *recorder) error
	// pendingSetup creates n pending requests for the pending workload
	// and returns their auth_req_ids and interval.
	pendingSetup(ctx context.Context, n int) ([]string, time.Duration, error)
	// poll makes one token request for id and returns the error code
	// ("" for tokens) and the new interval after a slow_down (0 if none).
	poll(ctx context.Context, id string, rec *recorder) (string, time.Duration, error)
	close()
}

// errorCode is an OAuth error answer, counted by its code.
type errorCode struct {
	Code   string
	Status int
}

func (e *errorCode) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status) }

// code returns the label an error is counted under.
func code(err error) string {
	var e *errorCode
	switch {
	case errors.As(err, &e) && e.Status != 0 && e.Status != 400 && e.Status != 200:
		return fmt.Sprintf("%s/%d", e.Code, e.Status)
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "transport"
	}
}

// Run runs one workload against t and measures it.
func run(ctx context.Context, t target, cfg Config) (*Result, error) {
	cfg.defaults()
	rec := newRecorder()
	res := &Result{Target: t.name(), Workload: cfg.Workload, Concurrency: cfg.Concurrency}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var work func(i int)
	if cfg.Workload == Pending {
		n := cfg.Pending
		if t.name() == "peer" {
			n = cfg.PeerPending
		}
		ids, interval, err := t.pendingSetup(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("create pending requests: %w", err)
		}
		if t.name() == "peer" {
			interval = cfg.PeerInterval
		}
		if interval > 0 {
			res.Offered = float64(len(ids)) / interval.Seconds()
		}
		work = pendingWorker(ctx, t, ids, interval, cfg.Concurrency, rec)
	} else {
		gap := time.Duration(0)
		if cfg.Rate > 0 {
			gap = time.Duration(float64(cfg.Concurrency) / cfg.Rate * float64(time.Second))
		}
		work = func(i int) {
			// Stagger the relying parties over one gap, so that the starts
			// come evenly, not in bursts of Concurrency.
			next := time.Now().Add(gap * time.Duration(i) / time.Duration(cfg.Concurrency))
			for ctx.Err() == nil {
				if gap > 0 {
					if !sleepUntil(ctx, next) {
						return
					}
					next = next.Add(gap)
					if now := time.Now(); next.Before(now) {
						next = now // behind: no burst to catch up
					}
				}
				start := time.Now()
				if err := t.flow(ctx, cfg.Workload, i, rec); err != nil {
					if ctx.Err() != nil {
						return
					}
					time.Sleep(10 * time.Millisecond) // no hot loop on a failing server
					continue
				}
				rec.step("flow", start)
				rec.flow()
			}
		}
	}
	var wg sync.WaitGroup
	for i := range cfg.Concurrency {
		wg.Go(func() { work(i) })
	}
	fmt.Fprintf(cfg.Log, "%s %s: warming up %v\n", t.name(), cfg.Workload, cfg.Warmup)
	select {
	case <-time.After(cfg.Warmup):
	case <-ctx.Done():
	}
	before, _ := readProc(cfg.ServerPID)
	start := time.Now()
	rec.measuring.Store(true)
	select {
	case <-time.After(cfg.Duration):
	case <-ctx.Done():
	}
	rec.measuring.Store(false)
	res.Elapsed = time.Since(start)
	after, err := readProc(cfg.ServerPID)
	if err != nil {
		fmt.Fprintf(cfg.Log, "server process %d: %v\n", cfg.ServerPID, err)
	}
	cancel()
	wg.Wait()
	res.CPU, res.RSSKiB = after.CPU-before.CPU, after.RSSKiB
	res.Flows, res.Requests = rec.flows.Load(), rec.requests.Load()
	res.Steps, res.Errors = rec.steps, rec.errors
	return res, ctx.Err()
}

// pendingWorker returns the work of the pending-poll storm. The ids are
// dealt out to the workers; each worker polls each of its ids no sooner
// than interval after its previous poll (and after a slow_down, no sooner
// than the new interval, CIBA Core §11 and RFC 8628 §3.5), always the one
// due first, so the throughput is set by the number of pending requests,
// not by how fast the server answers, as long as it keeps up. The "late"
// step is how far behind its due time each poll went out: when it grows,
// the server (or the tool) no longer keeps up.
func pendingWorker(ctx context.Context, t target, ids []string, interval time.Duration, n int, rec *recorder) func(int) {
	return func(i int) {
		var q dueQueue
		now := time.Now()
		for j := i; j < len(ids); j += n {
			// Each request was created before now, so its first poll is
			// due one interval from now at the latest; spread the first
			// polls over the interval after that.
			var off time.Duration
			if interval > 0 {
				off = interval + time.Duration(rand.Int64N(int64(interval)))
			}
			heap.Push(&q, &dueEntry{id: ids[j], due: now.Add(off), ivl: interval})
		}
		if len(q) == 0 {
			return
		}
		for ctx.Err() == nil {
			e := q[0]
			if wait := time.Until(e.due); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
			rec.step("late", e.due)
			start := time.Now()
			c, _, err := t.poll(ctx, e.id, rec)
			switch {
			case err != nil && ctx.Err() != nil:
				return
			case err != nil:
				rec.fail(code(err))
			case c == "authorization_pending":
				rec.step("token(pending)", start)
				rec.flow() // one answered poll
			case c == "slow_down":
				rec.step("token(pending)", start)
				rec.flow()
				rec.fail(c)
				e.ivl += 5 * time.Second
			case c == "":
				rec.fail("unexpected_tokens")
			default:
				rec.fail(c)
			}
			// The interval runs from the answer, not from the request:
			// the server starts it when it handles the poll, which can be
			// a queueing delay after the request was sent.
			e.due = time.Now().Add(e.ivl)
			heap.Fix(&q, 0)
		}
	}
}

// dueEntry is a pending request and when it may next be polled.
type dueEntry struct {
	id  string
	due time.Time
	ivl time.Duration
}

// dueQueue is a heap of entries, the one due first on top.
type dueQueue []*dueEntry

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q dueQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)        { *q = append(*q, x.(*dueEntry)) }
func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// newHTTPClient returns a client that keeps enough idle connections for
// concurrency workers and their devices.
func newHTTPClient(concurrency int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 4 * concurrency
	tr.MaxIdleConnsPerHost = 4 * concurrency
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// sleepUntil waits until t or ctx's end, and reports whether t came.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
