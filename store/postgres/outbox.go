package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backchannel/backchannel/store"
)

const outboundColumns = `id, request_id, client_id, endpoint, token, payload, state, attempts,
	next_attempt_at, expires_at, last_error, created_at, done_at`

func scanOutbound(row pgx.Row) (store.Outbound, error) {
	var o store.Outbound
	err := row.Scan(&o.ID, &o.RequestID, &o.ClientID, &o.Endpoint, &o.Token, jsonDest(&o.Payload),
		&o.State, &o.Attempts, timeDest{&o.NextAttemptAt}, timeDest{&o.ExpiresAt}, &o.LastError,
		timeDest{&o.CreatedAt}, timeDest{&o.DoneAt})
	return o, check(err)
}

// queueOutbound adds the insert of o to b. o.State must be one of the
// outbound states; a CHECK constraint enforces it.
func queueOutbound(b *pgx.Batch, o store.Outbound) {
	queue(b, func(err error) error { return fmt.Errorf("create outbound %q: %w", o.ID, err) },
		`INSERT INTO outbox (`+outboundColumns+`) VALUES (`+params(1, count(outboundColumns))+`)`,
		o.ID, o.RequestID, o.ClientID, o.Endpoint, o.Token, jsonArg(o.Payload), o.State, o.Attempts,
		timeArg(o.NextAttemptAt), timeArg(o.ExpiresAt), o.LastError, timeArg(o.CreatedAt), timeArg(o.DoneAt))
}

// ClaimOutbound takes up to limit queued rows that are due at now (a zero
// NextAttemptAt counts as the earliest time), longest due first, then
// oldest, then first inserted, in one statement. Rows another worker is
// claiming at the same moment are skipped, not waited for: they will be
// leased by the time that worker commits. A limit of 0 or less takes
// nothing.
func (s *Store) ClaimOutbound(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Outbound, error) {
	if limit <= 0 {
		return nil, nil
	}
	// The state is a literal, not a parameter, so that generic plans of
	// the prepared statement still match the partial index outbox_due.
	// UPDATE … RETURNING has no order, so the rows come back with the
	// time they were due at, to be sorted by. A row that another claim
	// leased after this statement's snapshot was taken is rechecked
	// against the WHERE clause when it is locked, and so left out.
	rows, err := s.pool.Query(ctx, `
		WITH due AS (
			SELECT id, next_attempt_at FROM outbox
			WHERE state = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
			ORDER BY next_attempt_at NULLS FIRST, created_at NULLS FIRST, seq
			LIMIT $3
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE outbox SET attempts = outbox.attempts + 1, next_attempt_at = $2
			FROM due WHERE outbox.id = due.id
			RETURNING outbox.*, due.next_attempt_at AS due_at
		)
		SELECT `+outboundColumns+` FROM claimed
		ORDER BY due_at NULLS FIRST, created_at NULLS FIRST, seq`,
		timeArg(now), timeArg(now.Add(lease)), limit)
	if err != nil {
		return nil, fmt.Errorf("claim outbound: %w", err)
	}
	out, err := collect(rows, scanOutbound)
	if err != nil {
		return nil, fmt.Errorf("claim outbound: %w", err)
	}
	return out, nil
}

// RetryOutbound schedules the next attempt of queued row id at next,
// records lastError and appends the audit events, in one transaction. It
// returns store.ErrNotFound, and saves nothing, if no queued row has that
// ID.
func (s *Store) RetryOutbound(ctx context.Context, id string, next time.Time, lastError string, events ...store.AuditEvent) error {
	err := s.execWithAudit(ctx, events, `UPDATE outbox SET next_attempt_at = $1, last_error = $2
		WHERE id = $3 AND state = $4`, timeArg(next), lastError, id, store.Queued)
	if err != nil {
		return fmt.Errorf("retry outbound %q: %w", id, err)
	}
	return nil
}

// FinishOutbound moves queued row id to state at at, records lastError,
// clears the row's token and payload and appends the audit events, in one
// transaction. It returns store.ErrNotFound, and saves nothing, if no
// queued row has that ID, and an error if state is neither
// store.Delivered nor store.Failed.
func (s *Store) FinishOutbound(ctx context.Context, id string, state store.OutboundState, at time.Time, lastError string, events ...store.AuditEvent) error {
	if state != store.Delivered && state != store.Failed {
		return fmt.Errorf("finish outbound %q: state %q is not %q or %q", id, state, store.Delivered, store.Failed)
	}
	err := s.execWithAudit(ctx, events, `UPDATE outbox SET state = $1, done_at = $2, last_error = $3, token = '', payload = NULL
		WHERE id = $4 AND state = $5`, state, timeArg(at), lastError, id, store.Queued)
	if err != nil {
		return fmt.Errorf("finish outbound %q: %w", id, err)
	}
	return nil
}

// execWithAudit runs a statement that must change exactly one row and
// appends events, in one transaction; with no events, the statement is
// its own.
func (s *Store) execWithAudit(ctx context.Context, events []store.AuditEvent, query string, args ...any) error {
	if len(events) == 0 {
		return execOne(ctx, s.pool, query, args...)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := execOne(ctx, tx, query, args...); err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, e := range events {
			if err := queueAudit(b, e); err != nil {
				return err
			}
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// Outbound returns row id, or store.ErrNotFound.
func (s *Store) Outbound(ctx context.Context, id string) (store.Outbound, error) {
	o, err := scanOutbound(s.pool.QueryRow(ctx, `SELECT `+outboundColumns+` FROM outbox WHERE id = $1`, id))
	if err != nil {
		return store.Outbound{}, fmt.Errorf("load outbound %q: %w", id, err)
	}
	return o, nil
}

// OutboundByRequest returns the rows of request requestID, oldest (by
// CreatedAt, then by insertion) first.
func (s *Store) OutboundByRequest(ctx context.Context, requestID string) ([]store.Outbound, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+outboundColumns+` FROM outbox
		WHERE request_id = $1 ORDER BY created_at NULLS FIRST, seq`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list outbound of request %q: %w", requestID, err)
	}
	os, err := collect(rows, scanOutbound)
	if err != nil {
		return nil, fmt.Errorf("list outbound of request %q: %w", requestID, err)
	}
	return os, nil
}
