package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Session is a whole measurement: workloads against one or both targets,
// alternating in rounds so both see the same machine noise.
type Session struct {
	Workloads   []Workload
	Rounds      int // 1
	Config      Config
	Backchannel *BackchannelConfig // nil: not measured
	Peer        *PeerConfig        // nil: not measured
	// BackchannelPID and PeerPID are the servers' processes for CPU and
	// RSS; 0 skips them.
	BackchannelPID, PeerPID int
	// ReceiverAddr is where the notification receiver listens;
	// 127.0.0.1:3081, the peer's PING_ENDPOINT.
	ReceiverAddr string
	// IdleUsers are backchannel's users for the pending and initiate
	// runs; 256.
	IdleUsers int
}

// Run measures every workload against every configured target, Rounds
// times, alternating targets, writes each result to out as it comes and
// then the table of medians and ratios.
func (s *Session) Run(ctx context.Context, out io.Writer) ([]*Result, error) {
	s.Config.defaults()
	if s.Rounds <= 0 {
		s.Rounds = 1
	}
	if s.ReceiverAddr == "" {
		s.ReceiverAddr = "127.0.0.1:3081"
	}
	if s.IdleUsers <= 0 {
		s.IdleUsers = 256
	}
	log := func(f string, a ...any) { fmt.Fprintf(s.Config.Log, f+"\n", a...) }
	recv, err := listenReceiver(s.ReceiverAddr)
	if err != nil {
		return nil, err
	}
	defer recv.close()
	type tgt struct {
		t   target
		pid int
	}
	var targets []tgt
	if s.Backchannel != nil {
		bc := *s.Backchannel
		if bc.NotifyURL == "" {
			bc.NotifyURL = "http://" + s.ReceiverAddr + "/ciba/notify"
		}
		t, err := newBackchannel(ctx, bc, s.Config.Concurrency, s.IdleUsers, s.Config.Think, recv, log)
		if err != nil {
			return nil, fmt.Errorf("set up backchannel: %w", err)
		}
		defer t.close()
		targets = append(targets, tgt{t, s.BackchannelPID})
	}
	if s.Peer != nil {
		t, err := newPeer(ctx, *s.Peer, s.Config.Concurrency, recv)
		if err != nil {
			return nil, fmt.Errorf("set up peer: %w", err)
		}
		targets = append(targets, tgt{t, s.PeerPID})
	}
	var results []*Result
	for round := range s.Rounds {
		for _, w := range s.Workloads {
			for _, tg := range targets {
				if (w == Push || w == PollWait) && tg.t.name() == "peer" {
					continue // the peer has no push mode; pollwait measures backchannel's long polling
				}
				cfg := s.Config
				cfg.Workload, cfg.ServerPID = w, tg.pid
				r, err := run(ctx, tg.t, cfg)
				if err != nil && !errors.Is(err, context.Canceled) {
					return results, fmt.Errorf("%s %s: %w", tg.t.name(), w, err)
				}
				if r == nil {
					return results, err
				}
				fmt.Fprintf(out, "round %d  %s\n", round+1, Summary(r))
				results = append(results, r)
				if ctx.Err() != nil {
					return results, ctx.Err()
				}
			}
		}
	}
	fmt.Fprintln(out)
	WriteTable(out, results)
	return results, nil
}

// Summary is one line about r.
func Summary(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-11s %-8s %8.0f flows/s %8.0f req/s", r.Target, r.Workload, r.FlowsPerSec(), r.RequestsPerSec())
	if r.Offered > 0 {
		fmt.Fprintf(&b, " (offered %.0f/s)", r.Offered)
	}
	fmt.Fprintf(&b, "  cpu %.2f cores, %v/flow, rss %d MiB", r.CPU.Seconds()/r.Elapsed.Seconds(), r.CPUPerFlow().Round(time.Microsecond), r.RSSKiB/1024)
	names := make([]string, 0, len(r.Steps))
	for n := range r.Steps {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		l := r.Steps[n]
		fmt.Fprintf(&b, "\n    %-16s n=%-7d p50 %-9v p90 %-9v p99 %v", n, l.Count(), ms(l.Quantile(.5)), ms(l.Quantile(.9)), ms(l.Quantile(.99)))
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, "\n    errors:")
		for c, n := range r.Errors {
			fmt.Fprintf(&b, " %s=%d", c, n)
		}
	}
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// WriteTable writes, per workload, the medians over rounds of each
// target's flows/s, flow p99 and server CPU per flow, and backchannel's
// ratios to the peer.
func WriteTable(out io.Writer, results []*Result) {
	type key struct {
		t string
		w Workload
	}
	type agg struct{ fps, p99, cpu, rss []float64 }
	m := map[key]*agg{}
	for _, r := range results {
		k := key{r.Target, r.Workload}
		a := m[k]
		if a == nil {
			a = &agg{}
			m[k] = a
		}
		p := "flow"
		if r.Workload == Pending {
			p = "token(pending)"
		} else if r.Workload == Initiate {
			p = "initiate"
		}
		var p99 float64
		if l := r.Steps[p]; l != nil {
			p99 = float64(l.Quantile(.99)) / 1e6
		}
		a.fps = append(a.fps, r.FlowsPerSec())
		a.p99 = append(a.p99, p99)
		a.cpu = append(a.cpu, float64(r.CPUPerFlow())/1e3)
		a.rss = append(a.rss, float64(r.RSSKiB)/1024)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tbc flows/s\tpeer flows/s\tratio\tbc p99 ms\tpeer p99 ms\tp99 ratio\tbc CPU µs/flow\tpeer CPU µs/flow\tCPU ratio\tbc RSS MiB\tpeer RSS MiB\t")
	for _, w := range Workloads {
		bc, peer := m[key{"backchannel", w}], m[key{"peer", w}]
		if bc == nil && peer == nil {
			continue
		}
		col := func(a *agg, f func(*agg) []float64) string {
			if a == nil {
				return "-"
			}
			return fmt.Sprintf("%.0f", median(f(a)))
		}
		col1 := func(a *agg, f func(*agg) []float64) string {
			if a == nil {
				return "-"
			}
			return fmt.Sprintf("%.1f", median(f(a)))
		}
		ratio := func(f func(*agg) []float64, inv bool) string {
			if bc == nil || peer == nil {
				return "-"
			}
			b, p := median(f(bc)), median(f(peer))
			if inv {
				b, p = p, b
			}
			if p == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f×", b/p)
		}
		fps := func(a *agg) []float64 { return a.fps }
		p99 := func(a *agg) []float64 { return a.p99 }
		cpu := func(a *agg) []float64 { return a.cpu }
		rss := func(a *agg) []float64 { return a.rss }
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", w,
			col(bc, fps), col(peer, fps), ratio(fps, false),
			col1(bc, p99), col1(peer, p99), ratio(p99, true),
			col(bc, cpu), col(peer, cpu), ratio(cpu, true),
			col(bc, rss), col(peer, rss))
	}
	tw.Flush()
	fmt.Fprintln(out, "medians over rounds; ratios are backchannel's advantage (>1× is better: peer/bc for p99 and CPU).")
}
