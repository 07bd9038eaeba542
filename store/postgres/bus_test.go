package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backchannel/backchannel/wake"
)

// TestBus checks that a wake-up published through one Store reaches the
// subscribers of another on the same schema, and none on another schema;
// and that after its listening connection is killed the Bus reconnects
// and tells its subscribers to resync.
func TestBus(t *testing.T) {
	base := testURL(t)
	url := freshSchema(t, base)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	listener := open(t, url)
	t.Cleanup(func() { listener.Close() })
	bus := listener.Bus(slog.New(slog.DiscardHandler))
	devices, stop := bus.Subscribe(wake.Device)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- bus.Run(ctx) }()

	// Run resyncs once it listens; from then on nothing is missed.
	expect(t, devices, wake.Resync)

	other := open(t, url)
	t.Cleanup(func() { other.Close() })
	elsewhere := open(t, freshSchema(t, base))
	t.Cleanup(func() { elsewhere.Close() })
	if err := elsewhere.Bus(slog.New(slog.DiscardHandler)).Publish(ctx, wake.Device, "on-another-schema"); err != nil {
		t.Fatal(err)
	}
	if err := other.Bus(slog.New(slog.DiscardHandler)).Publish(ctx, wake.Device, "u-1"); err != nil {
		t.Fatal(err)
	}
	expect(t, devices, "u-1")

	// Kill the listening connection, as a failover or a restart of the
	// database would.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var killed int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query LIKE 'LISTEN %' AND query LIKE '%' || current_schema() || '%' AND pid <> pg_backend_pid()`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate the listener = %d, %v; want 1", killed, err)
	}
	expect(t, devices, wake.Resync)
	if err := other.Bus(slog.New(slog.DiscardHandler)).Publish(ctx, wake.Device, "u-2"); err != nil {
		t.Fatal(err)
	}
	expect(t, devices, "u-2")

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after its context ended, want nil", err)
	}
}

// expect fails t unless the next key on ch, within 5 s, is want.
func expect(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("wake-up = %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no wake-up %q within 5 s", want)
	}
}
