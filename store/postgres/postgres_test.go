package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/store/postgres"
	"github.com/backchannel/backchannel/store/storetest"
)

func TestConformance(t *testing.T) {
	base := testURL(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, freshSchema(t, base))
	})
}

// testURL returns the URL of the test database in
// BACKCHANNEL_TEST_POSTGRES. Without it the test is skipped, except in CI,
// where it fails: CI must never skip the PostgreSQL suite silently.
func testURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("BACKCHANNEL_TEST_POSTGRES")
	switch {
	case u == "" && os.Getenv("CI") != "":
		t.Fatal("BACKCHANNEL_TEST_POSTGRES must be set in CI (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	case u == "":
		t.Skip("BACKCHANNEL_TEST_POSTGRES not set; set it to a PostgreSQL URL " +
			"(e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL store tests")
	}
	return u
}

// freshSchema creates a schema of its own for t, dropped with everything
// in it when t ends, and returns base with search_path set to it, so
// that tests running at once never see each other's tables.
func freshSchema(t *testing.T, base string) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	schema := pgx.Identifier{"backchannel_test_" + hex.EncodeToString(b)}.Sanitize()
	admin := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := admin(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		// t.Context has ended by the time cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
	})
	return withSearchPath(t, base, strings.Trim(schema, `"`))
}

// withSearchPath returns the connection string s, a URL or key=value
// pairs, with search_path set to schema.
func withSearchPath(t *testing.T, s, schema string) string {
	t.Helper()
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		return s + " search_path=" + schema
	}
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("parse BACKCHANNEL_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// open opens a Store on url and closes it when t ends.
func open(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	return s
}

// TestOpenConcurrently checks that instances starting together on one new
// database all start: one applies the migrations while the others wait.
func TestOpenConcurrently(t *testing.T) {
	u := freshSchema(t, testURL(t))
	const n = 4
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = postgres.Open(t.Context(), u)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d = %v, want nil", i, err)
			continue
		}
		if err := stores[i].Ping(t.Context()); err != nil {
			t.Errorf("Ping #%d = %v", i, err)
		}
		stores[i].Close()
	}
	states, err := postgres.MigrationStatus(t.Context(), u)
	if err != nil {
		t.Fatalf("MigrationStatus = %v", err)
	}
	for _, m := range states {
		if !m.Applied {
			t.Errorf("migration %d %s not applied", m.Version, m.Name)
		}
	}
}

// TestClaimAcrossInstances checks that workers of two instances, each
// with its own pool, draining one outbox take every row exactly once.
func TestClaimAcrossInstances(t *testing.T) {
	u := freshSchema(t, testURL(t))
	a, b := open(t, u), open(t, u)
	defer a.Close()
	defer b.Close()
	ctx := t.Context()
	t0 := time.Date(2030, time.March, 14, 15, 9, 26, 0, time.UTC)
	if err := a.CreateRequest(ctx, store.Request{ID: "r1", State: store.Approved}); err != nil {
		t.Fatal(err)
	}
	const rows = 120
	var queued []store.Outbound
	for i := range rows {
		queued = append(queued, store.Outbound{ID: fmt.Sprint("o", i), RequestID: "r1", State: store.Queued,
			NextAttemptAt: t0.Add(time.Duration(i) * time.Millisecond), CreatedAt: t0})
	}
	_, err := a.UpdateRequest(ctx, "r1", func(*store.Request) (store.Effects, error) {
		return store.Effects{Outbound: queued}, nil
	})
	if err != nil {
		t.Fatal(err)
	}

	now := t0.Add(time.Hour)
	var mu sync.Mutex
	claims := map[string]int{}
	byStore := map[*postgres.Store]int{}
	var wg sync.WaitGroup
	for _, s := range []*postgres.Store{a, b, a, b, a, b} {
		wg.Go(func() {
			for {
				got, err := s.ClaimOutbound(ctx, now, time.Hour, 4)
				if err != nil {
					t.Errorf("ClaimOutbound = %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, o := range got {
					claims[o.ID]++
					byStore[s]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, o := range queued {
		if n := claims[o.ID]; n != 1 {
			t.Errorf("row %s claimed %d times, want 1", o.ID, n)
		}
	}
	t.Logf("claimed %d rows on one instance and %d on the other", byStore[a], byStore[b])
}

func TestMigrateAndStatus(t *testing.T) {
	u := freshSchema(t, testURL(t))
	ctx := t.Context()
	states, err := postgres.MigrationStatus(ctx, u)
	if err != nil {
		t.Fatalf("MigrationStatus(new database) = %v", err)
	}
	if len(states) == 0 || states[0].Version != 1 || states[0].Name != "00001_init.sql" {
		t.Fatalf("MigrationStatus(new database) = %+v, want 00001_init.sql first", states)
	}
	for _, m := range states {
		if m.Applied || !m.AppliedAt.IsZero() {
			t.Errorf("MigrationStatus(new database): %s applied", m.Name)
		}
	}
	// Status left the database as it was: no version table.
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("MigrationStatus created %d tables, want none", tables)
	}

	if err := postgres.Migrate(ctx, u); err != nil {
		t.Fatalf("Migrate = %v", err)
	}
	if err := postgres.Migrate(ctx, u); err != nil {
		t.Fatalf("Migrate again = %v", err)
	}
	states, err = postgres.MigrationStatus(ctx, u)
	if err != nil {
		t.Fatalf("MigrationStatus = %v", err)
	}
	for _, m := range states {
		if !m.Applied || m.AppliedAt.IsZero() || m.AppliedAt.Location() != time.UTC {
			t.Errorf("MigrationStatus after Migrate: %+v, want applied, with a UTC time", m)
		}
	}
}

func TestOpenErrorHidesPassword(t *testing.T) {
	testURL(t)
	for _, u := range []string{
		"postgres://backchannel:s3cret-pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=5",
		"postgres://backchannel:s3cret-pw@127.0.0.1:1/x?sslmode=bogus",
		"host=127.0.0.1 port=1 user=backchannel password=s3cret-pw sslmode=disable",
	} {
		_, err := postgres.Open(t.Context(), u)
		if err == nil {
			t.Fatalf("Open(%q) = nil error, want one", u)
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("Open error shows the password: %v", err)
		}
	}
}

// TestQueryPlans checks that the hot queries can use their indexes even
// as generic plans, which pgx's prepared statements end up with: a
// partial index only serves a query whose WHERE clause implies the
// index's predicate without knowing the parameters.
func TestQueryPlans(t *testing.T) {
	u := freshSchema(t, testURL(t))
	open(t, u).Close()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{`SET enable_seqscan = off`, `SET plan_cache_mode = force_generic_plan`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name, query, index string
	}{
		{"ClaimOutbound", `SELECT id FROM outbox
			WHERE state = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
			ORDER BY next_attempt_at NULLS FIRST, created_at NULLS FIRST, seq LIMIT $2 FOR UPDATE SKIP LOCKED`, "outbox_due"},
		{"ExpiringRequests", `SELECT id FROM requests
			WHERE state = $1 AND delivery_mode IN ('ping', 'push') AND (expires_at IS NULL OR expires_at <= $2)
			ORDER BY expires_at NULLS FIRST, seq LIMIT $3`, "requests_expiring"},
		{"UserByHint", `SELECT sub FROM users WHERE email = $1 AND email <> ''`, "users_email"},
		{"PendingRequests", `SELECT id FROM requests WHERE subject = $1 AND state = $2 AND expires_at > $3`, "requests_subject_state"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// PREPARE, then EXPLAIN EXECUTE with NULLs: the generic plan
			// does not depend on the values.
			name := strings.ToLower(tt.name)
			if _, err := conn.Exec(ctx, `PREPARE `+name+` AS `+tt.query); err != nil {
				t.Fatal(err)
			}
			n := strings.Count(tt.query, "$")
			args := strings.TrimSuffix(strings.Repeat("NULL, ", n), ", ")
			rows, err := conn.Query(ctx, `EXPLAIN EXECUTE `+name+`(`+args+`)`)
			if err != nil {
				t.Fatal(err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(lines, "\n")
			if !strings.Contains(plan, tt.index) {
				t.Errorf("plan of %s does not use %s:\n%s", tt.name, tt.index, plan)
			}
		})
	}
}
