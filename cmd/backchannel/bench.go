package main

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/bench"
)

func newBenchCommand(env *cliEnv) *cobra.Command {
	var (
		s          bench.Session
		workloads  string
		targetName string
		bcURL      string
		adminURL   string
		adminToken string
		peerURL    string
		bcPID      int
		peerPID    int
		sweep      string
		chart      string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a running server, and the node-oidc-provider peer beside it",
		Long: `bench drives running servers over HTTP with concurrent simulated relying
parties and devices and reports flows/s, requests/s, latency per step,
errors by code and each server's CPU and RSS (from /proc).

Workloads: poll, ping, push (full flows: initiate, the device's signed
approval, the token), pending (a poll storm against --pending pending
requests, each polled at the server's interval, slow_down honoured; the peer
sends no interval, so it is polled every --peer-interval, 0 = closed loop),
initiate, and pollwait (poll flows whose relying party polls from the start
at the interval while the device waits --think before approving: the polls a
flow costs and approve→token, which long polling changes; backchannel only).

backchannel's users, clients and devices are created through the admin API
(--admin-url, --admin-token or BACKCHANNEL_ADMIN_URL/TOKEN); ping and push
notifications arrive at --receiver, which must be the peer's PING_ENDPOINT.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, w := range strings.Split(workloads, ",") {
				w := bench.Workload(strings.TrimSpace(w))
				if !containsWorkload(w) {
					return fmt.Errorf("unknown workload %q", w)
				}
				s.Workloads = append(s.Workloads, w)
			}
			if adminToken == "" {
				adminToken = env.getenv("BACKCHANNEL_ADMIN_TOKEN")
			}
			if adminURL == "" {
				adminURL = env.getenv("BACKCHANNEL_ADMIN_URL")
			}
			var err error
			switch targetName {
			case "backchannel", "both":
				if adminToken == "" {
					return fmt.Errorf("no admin token: pass --admin-token or set BACKCHANNEL_ADMIN_TOKEN")
				}
				s.Backchannel = &bench.BackchannelConfig{Issuer: bcURL, AdminURL: adminURL, AdminToken: adminToken}
				if s.BackchannelPID, err = pidFor(bcPID, bcURL); err != nil {
					fmt.Fprintln(env.stderr, "backchannel server:", err, "(no CPU or RSS)")
				}
			}
			switch targetName {
			case "peer", "both":
				s.Peer = &bench.PeerConfig{Issuer: peerURL}
				if s.PeerPID, err = pidFor(peerPID, peerURL); err != nil {
					fmt.Fprintln(env.stderr, "peer server:", err, "(no CPU or RSS)")
				}
			case "backchannel":
			default:
				return fmt.Errorf("--target must be backchannel, peer or both")
			}
			s.Config.Log = env.stderr
			levels := []int{s.Config.Concurrency}
			if sweep != "" {
				levels = nil
				for _, f := range strings.Split(sweep, ",") {
					c, err := strconv.Atoi(strings.TrimSpace(f))
					if err != nil || c < 1 {
						return fmt.Errorf("--sweep: %q is not a concurrency", f)
					}
					levels = append(levels, c)
				}
			}
			var all []*bench.Result
			for _, c := range levels {
				s.Config.Concurrency = c
				if len(levels) > 1 {
					fmt.Fprintf(env.stdout, "\nconcurrency %d\n", c)
				}
				results, err := s.Run(cmd.Context(), env.stdout)
				all = append(all, results...)
				if err != nil {
					return err
				}
			}
			if chart == "" {
				return nil
			}
			f, err := os.Create(chart)
			if err != nil {
				return err
			}
			if err := bench.WriteChart(f, all, s.Workloads[0]); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&workloads, "workload", "poll", "comma-separated workloads: poll, ping, push, pending, initiate")
	f.StringVar(&targetName, "target", "backchannel", "backchannel, peer or both (alternating in each round)")
	f.IntVar(&s.Config.Concurrency, "concurrency", 64, "simulated relying parties (each with its own user and device)")
	f.DurationVar(&s.Config.Duration, "duration", 20*time.Second, "measured time per run")
	f.DurationVar(&s.Config.Warmup, "warmup", 5*time.Second, "unmeasured time before each run")
	f.IntVar(&s.Rounds, "rounds", 1, "rounds; each runs every workload on every target, and the table shows medians")
	f.IntVar(&s.Config.Pending, "pending", 20000, "pending requests the pending workload keeps")
	f.IntVar(&s.Config.PeerPending, "peer-pending", 256, "pending requests kept at the peer (its in-memory store holds about 1000 entries)")
	f.IntVar(&s.IdleUsers, "users", 256, "backchannel users (each with a device) that the pending and initiate workloads spread their requests over")
	f.DurationVar(&s.Config.PeerInterval, "peer-interval", 0, "poll interval used for the peer, which sends none (0: closed loop)")
	f.StringVar(&sweep, "sweep", "", "comma-separated concurrencies to run in turn instead of --concurrency (e.g. 8,16,32,64,128)")
	f.StringVar(&chart, "chart", "", "write a PNG chart of the first workload's flows/s and p99 against concurrency to this file")
	f.DurationVar(&s.Config.Think, "think", 1500*time.Millisecond, "how long the device of a pollwait flow waits before it approves")
	f.Float64Var(&s.Config.Rate, "rate", 0, "start flows at this many per second in all (open loop, to read latencies below saturation); 0: closed loops")
	f.StringVar(&bcURL, "url", "http://localhost:8099", "backchannel's issuer (serve --dev names a loopback listener localhost)")
	f.StringVar(&adminURL, "admin-url", "", "backchannel's admin API base URL (default --url; env BACKCHANNEL_ADMIN_URL)")
	f.StringVar(&adminToken, "admin-token", "", "admin API token (env BACKCHANNEL_ADMIN_TOKEN)")
	f.StringVar(&peerURL, "peer-url", "http://127.0.0.1:3000", "the peer's issuer")
	f.IntVar(&bcPID, "server-pid", 0, "backchannel's process ID (default: the process listening on --url's port)")
	f.IntVar(&peerPID, "peer-pid", 0, "the peer's process ID (default: the process listening on --peer-url's port)")
	f.StringVar(&s.ReceiverAddr, "receiver", "127.0.0.1:3081", "address of the ping/push notification receiver")
	cmd.AddCommand(newBenchFillCommand(env))
	return cmd
}

func containsWorkload(w bench.Workload) bool {
	for _, x := range bench.Workloads {
		if x == w {
			return true
		}
	}
	return false
}

// pidFor returns pid if set, or the process listening on rawURL's port.
func pidFor(pid int, rawURL string) (int, error) {
	if pid != 0 {
		return pid, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0, err
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return 0, fmt.Errorf("no port in %s", rawURL)
	}
	return bench.PIDByPort(port)
}
