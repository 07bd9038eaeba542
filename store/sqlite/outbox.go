package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/backchannel/backchannel/store"
)

const outboundColumns = `id, request_id, client_id, endpoint, token, payload, state, attempts,
	next_attempt_at, expires_at, last_error, created_at, done_at`

func scanOutbound(row scanner) (store.Outbound, error) {
	var o store.Outbound
	err := row.Scan(&o.ID, &o.RequestID, &o.ClientID, &o.Endpoint, &o.Token, jsonDest{&o.Payload},
		&o.State, &o.Attempts, timeDest{&o.NextAttemptAt}, timeDest{&o.ExpiresAt}, &o.LastError,
		timeDest{&o.CreatedAt}, timeDest{&o.DoneAt})
	return o, check(err)
}

// insertOutbound creates o in tx. o.State must be one of the outbound
// states; a CHECK constraint enforces it.
func insertOutbound(ctx context.Context, tx *sql.Tx, o store.Outbound) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO outbox (`+outboundColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.RequestID, o.ClientID, o.Endpoint, o.Token, jsonArg(o.Payload), o.State, o.Attempts,
		timeArg(o.NextAttemptAt), timeArg(o.ExpiresAt), o.LastError, timeArg(o.CreatedAt), timeArg(o.DoneAt))
	if err != nil {
		return fmt.Errorf("create outbound %q: %w", o.ID, check(err))
	}
	return nil
}

// ClaimOutbound takes up to limit queued rows that are due at now (a zero
// NextAttemptAt counts as the earliest time), longest due first and then
// oldest, in one write transaction. A limit of 0 or less takes nothing.
func (s *Store) ClaimOutbound(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Outbound, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Outbound
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT rowid FROM outbox
			WHERE state = ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
			ORDER BY next_attempt_at, created_at, rowid LIMIT ?`, store.Queued, timeArg(now), limit)
		if err != nil {
			return err
		}
		ids, err := collect(rows, func(row scanner) (int64, error) {
			var id int64
			return id, row.Scan(&id)
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			o, err := scanOutbound(tx.QueryRowContext(ctx, `UPDATE outbox
				SET attempts = attempts + 1, next_attempt_at = ?
				WHERE rowid = ? RETURNING `+outboundColumns, timeArg(now.Add(lease)), id))
			if err != nil {
				return err
			}
			out = append(out, o)
		}
		return nil
	})
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, `UPDATE outbox SET next_attempt_at = ?, last_error = ?
			WHERE id = ? AND state = ?`, timeArg(next), lastError, id, store.Queued); err != nil {
			return err
		}
		return insertEffects(ctx, tx, store.Effects{Audit: events})
	})
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, `UPDATE outbox SET state = ?, done_at = ?, last_error = ?, token = '', payload = NULL
			WHERE id = ? AND state = ?`, state, timeArg(at), lastError, id, store.Queued); err != nil {
			return err
		}
		return insertEffects(ctx, tx, store.Effects{Audit: events})
	})
	if err != nil {
		return fmt.Errorf("finish outbound %q: %w", id, err)
	}
	return nil
}

// Outbound returns row id, or store.ErrNotFound.
func (s *Store) Outbound(ctx context.Context, id string) (store.Outbound, error) {
	o, err := scanOutbound(s.r.QueryRowContext(ctx, `SELECT `+outboundColumns+` FROM outbox WHERE id = ?`, id))
	if err != nil {
		return store.Outbound{}, fmt.Errorf("load outbound %q: %w", id, err)
	}
	return o, nil
}

// OutboundByRequest returns the rows of request requestID, oldest (by
// CreatedAt) first.
func (s *Store) OutboundByRequest(ctx context.Context, requestID string) ([]store.Outbound, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+outboundColumns+` FROM outbox
		WHERE request_id = ? ORDER BY created_at, rowid`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list outbound of request %q: %w", requestID, err)
	}
	os, err := collect(rows, scanOutbound)
	if err != nil {
		return nil, fmt.Errorf("list outbound of request %q: %w", requestID, err)
	}
	return os, nil
}
