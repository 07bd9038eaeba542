package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backchannel/backchannel/wake"
)

// maxPayload bounds a NOTIFY payload we send. PostgreSQL allows 8000
// bytes; a key that would not fit is sent as wake.Resync, which wakes
// every subscriber of its topic instead.
const maxPayload = 1000

// Bus is a wake.Bus between every instance on one database, on
// PostgreSQL's LISTEN/NOTIFY (DESIGN.md, "Scale"). Publish sends a
// NOTIFY of "topic:key" on a pool connection; Run holds one dedicated
// connection that LISTENs and hands what arrives, this instance's own
// wake-ups included, to the local subscribers. Only topics and keys (ids
// and subjects) cross the database, never a secret.
//
// NOTIFY is delivered only to sessions listening at the time, so when
// the listening connection is lost Run reconnects with backoff and then
// delivers wake.Resync to every subscriber: they re-read the store, as
// wake-ups may have been missed meanwhile.
type Bus struct {
	store   *Store
	log     *slog.Logger
	local   wake.Local
	channel string // set by Run before it first listens; "" until then
	ready   chan struct{}
}

var _ wake.Bus = (*Bus)(nil)

// Bus returns the wake-up bus of the database of s. Call its Run to
// receive; Publish works without it.
func (s *Store) Bus(log *slog.Logger) *Bus {
	return &Bus{store: s, log: log, ready: make(chan struct{})}
}

// Subscribe implements wake.Bus.
func (b *Bus) Subscribe(topic string) (<-chan string, func()) {
	return b.local.Subscribe(topic)
}

// Publish implements wake.Bus: it sends a NOTIFY, which PostgreSQL
// delivers to every listening instance, this one included. Publish on a
// change only once its transaction has committed: a NOTIFY sent outside
// a transaction is delivered at once.
func (b *Bus) Publish(ctx context.Context, topic, key string) error {
	if strings.Contains(topic, ":") {
		return fmt.Errorf("publish wake-up: topic %q contains a colon", topic)
	}
	if len(topic)+1+len(key) > maxPayload {
		key = wake.Resync
	}
	channel, err := b.channelName(ctx)
	if err != nil {
		return fmt.Errorf("publish wake-up: %w", err)
	}
	if _, err := b.store.pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, topic+":"+key); err != nil {
		return fmt.Errorf("publish wake-up: %w", err)
	}
	return nil
}

// channelName returns the NOTIFY channel of the store's schema: NOTIFY
// is database-wide, and several schemas (several deployments, or tests)
// may share one database.
func (b *Bus) channelName(ctx context.Context) (string, error) {
	select {
	case <-b.ready:
		return b.channel, nil
	default:
	}
	// Before Run has found it (or without Run), ask.
	var schema string
	if err := b.store.pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return "", err
	}
	return channelFor(schema), nil
}

// channelFor returns the channel name of schema, within PostgreSQL's
// 63-byte limit on identifiers.
func channelFor(schema string) string {
	name := "backchannel_wake." + schema
	if len(name) > 63 {
		sum := sha256.Sum256([]byte(schema))
		name = "backchannel_wake." + hex.EncodeToString(sum[:16])
	}
	return name
}

// Run listens until ctx ends, reconnecting with backoff (100 ms doubling
// to 10 s) whenever the connection fails. It returns nil when ctx ends.
func (b *Bus) Run(ctx context.Context) error {
	cfg := b.store.pool.Config().ConnConfig.Copy()
	backoff := 100 * time.Millisecond
	for {
		err := b.listen(ctx, cfg, func() { backoff = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return nil
		}
		b.log.Warn("wake-up listener disconnected; reconnecting", "err", err, "backoff", backoff.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// listen connects, LISTENs, calls listening, then delivers notifications
// until the connection fails or ctx ends. Once listening, it delivers a
// Resync, since wake-ups sent while no connection listened are lost (at
// the first connection this costs the few subscribers one re-read).
func (b *Bus) listen(ctx context.Context, cfg *pgx.ConnConfig, listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		// The connection may be dead already: don't wait long to say
		// goodbye.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	var schema string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return err
	}
	channel := channelFor(schema)
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	select {
	case <-b.ready:
	default:
		b.channel = channel
		close(b.ready)
	}
	listening()
	b.local.ResyncAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		topic, key, ok := strings.Cut(n.Payload, ":")
		if !ok {
			b.log.Warn("wake-up without a topic ignored", "channel", n.Channel)
			continue
		}
		b.local.Deliver(topic, key)
	}
}
