package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/store"
)

// newBenchFillCommand returns `backchannel bench fill`: it puts many
// pending requests straight into a store, so that a benchmark can show
// what a large backlog costs (initiation and poll latency, memory). It
// writes through the store's own CreateRequest, as the server does, from
// concurrent writers, and must run while no server uses the database.
func newBenchFillCommand(env *cliEnv) *cobra.Command {
	var (
		dsn      string
		pending  int
		clientID string
		users    int
		expiry   time.Duration
		writers  int
	)
	cmd := &cobra.Command{
		Use:   "fill --db DSN --pending N",
		Short: "Put N pending requests into a stopped server's store (for backlog benchmarks)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dsn == "" || pending <= 0 || users <= 0 || writers <= 0 {
				return errors.New("--db, and positive --pending, --users and --writers, are required")
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, dsn)
			if err != nil {
				return err
			}
			defer st.Close()
			start := time.Now()
			n, err := fillPending(ctx, st, pending, clientID, users, start.Add(expiry), writers)
			elapsed := time.Since(start)
			fmt.Fprintf(env.stdout, "%d pending requests for %d users of client %s in %v (%.0f/s), expiring at %s\n",
				n, users, clientID, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), start.Add(expiry).Format(time.RFC3339))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&dsn, "db", "", "the store: sqlite:PATH or a postgres:// URL (the server must be stopped for SQLite)")
	f.IntVar(&pending, "pending", 1_000_000, "pending requests to add")
	f.StringVar(&clientID, "client", "fill-client", "the client_id the requests name")
	f.IntVar(&users, "users", 10_000, "users (subjects fill-user-0 …) the requests are spread over")
	f.DurationVar(&expiry, "expiry", 2*time.Hour, "how long the requests stay pending")
	f.IntVar(&writers, "writers", 64, "concurrent writers")
	return cmd
}

// fillPending adds n pending poll-mode requests of clientID, spread over
// users subjects, expiring at exp, with writers concurrent writers, and
// returns how many it added.
func fillPending(ctx context.Context, st store.Store, n int, clientID string, users int, exp time.Time, writers int) (int, error) {
	var (
		next, added atomic.Int64
		wg          sync.WaitGroup
		once        sync.Once
		firstErr    error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	now := time.Now().UTC()
	for range writers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				// The auth_req_id is thrown away: nobody polls these; they
				// are the backlog the measured requests live beside.
				hash := sha256.Sum256([]byte(rand.Text()))
				r := store.Request{
					ID:           rand.Text()[:22],
					AuthReqHash:  hash[:],
					ClientID:     clientID,
					Subject:      fmt.Sprintf("fill-user-%d", i%int64(users)),
					State:        store.Pending,
					Scopes:       []string{"openid"},
					Binding:      fmt.Sprintf("Fill %d", i),
					DeliveryMode: store.Poll,
					CreatedAt:    now,
					ExpiresAt:    exp,
					Interval:     5 * time.Second,
					NextPollAt:   now,
				}
				if err := st.CreateRequest(ctx, r); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("request %d: %w", i, err); cancel() })
					return
				}
				added.Add(1)
			}
		})
	}
	wg.Wait()
	return int(added.Load()), firstErr
}
