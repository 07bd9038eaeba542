package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backchannel/backchannel/store"
)

const requestColumns = `id, auth_req_hash, client_id, subject, state, scopes, acr_values,
	binding_message, notification_token, auth_req_id, delivery_mode, created_at,
	expires_at, poll_interval, next_poll_at, decided_at, device_id, acr, amr, decision,
	authorization_details`

func scanRequest(row pgx.Row) (store.Request, error) {
	var r store.Request
	var interval int64
	err := row.Scan(&r.ID, &r.AuthReqHash, &r.ClientID, &r.Subject, &r.State,
		&r.Scopes, &r.ACRValues, &r.Binding, &r.NotificationToken,
		&r.AuthReqID, &r.DeliveryMode, timeDest{&r.CreatedAt}, timeDest{&r.ExpiresAt}, &interval,
		timeDest{&r.NextPollAt}, timeDest{&r.DecidedAt}, &r.DeviceID, &r.ACR, &r.AMR, &r.Decision,
		jsonDest(&r.AuthorizationDetails))
	r.Interval = time.Duration(interval)
	emptyToNil(&r.Scopes)
	emptyToNil(&r.ACRValues)
	emptyToNil(&r.AMR)
	return r, check(err)
}

// requestArgs are r's values in the order of requestColumns.
func requestArgs(r store.Request) []any {
	return []any{r.ID, blobArg(r.AuthReqHash), r.ClientID, r.Subject, r.State,
		listArg(r.Scopes), listArg(r.ACRValues), r.Binding, r.NotificationToken,
		r.AuthReqID, r.DeliveryMode, timeArg(r.CreatedAt), timeArg(r.ExpiresAt), int64(r.Interval),
		timeArg(r.NextPollAt), timeArg(r.DecidedAt), r.DeviceID, r.ACR, listArg(r.AMR), r.Decision,
		jsonArg(r.AuthorizationDetails)}
}

// CreateRequest adds r. It returns store.ErrConflict if r.ID or a set
// r.AuthReqHash exists.
func (s *Store) CreateRequest(ctx context.Context, r store.Request, fx ...store.Effects) error {
	insert := `INSERT INTO requests (` + requestColumns + `) VALUES (` + params(1, count(requestColumns)) + `)`
	var err error
	if len(fx) == 0 {
		_, err = s.pool.Exec(ctx, insert, requestArgs(r)...)
	} else {
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			queue(b, func(err error) error { return err }, insert, requestArgs(r)...)
			var all store.Effects
			for _, e := range fx {
				all.Tokens = append(all.Tokens, e.Tokens...)
				all.Outbound = append(all.Outbound, e.Outbound...)
				all.Audit = append(all.Audit, e.Audit...)
				all.Once = append(all.Once, e.Once...)
			}
			return saveWithEffects(ctx, tx, b, all)
		})
	}
	if err != nil {
		return fmt.Errorf("create request %q: %w", r.ID, check(err))
	}
	return nil
}

// Request returns request id, or store.ErrNotFound.
func (s *Store) Request(ctx context.Context, id string) (store.Request, error) {
	r, err := scanRequest(s.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = $1`, id))
	if err != nil {
		return store.Request{}, fmt.Errorf("load request %q: %w", id, err)
	}
	return r, nil
}

// RequestByAuthReqHash returns the request whose AuthReqHash is h, or
// store.ErrNotFound.
func (s *Store) RequestByAuthReqHash(ctx context.Context, h []byte) (store.Request, error) {
	if len(h) == 0 {
		return store.Request{}, fmt.Errorf("load request by auth_req_id: %w", store.ErrNotFound)
	}
	r, err := scanRequest(s.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM requests WHERE auth_req_hash = $1`, h))
	if err != nil {
		return store.Request{}, fmt.Errorf("load request by auth_req_id: %w", err)
	}
	return r, nil
}

// PendingRequests returns the user's pending requests that expire after
// now, oldest (by CreatedAt, then by insertion) first.
func (s *Store) PendingRequests(ctx context.Context, sub string, now time.Time) ([]store.Request, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+requestColumns+` FROM requests
		WHERE subject = $1 AND state = $2 AND expires_at > $3
		ORDER BY created_at NULLS FIRST, seq`, sub, store.Pending, timeArg(now))
	if err != nil {
		return nil, fmt.Errorf("list pending requests of %q: %w", sub, err)
	}
	rs, err := collect(rows, scanRequest)
	if err != nil {
		return nil, fmt.Errorf("list pending requests of %q: %w", sub, err)
	}
	return rs, nil
}

// UpdateRequest loads request id, calls decide with it and, if decide
// returns nil, saves every field of the request but its ID and inserts
// the effects' tokens and outbound rows, all in one transaction that
// holds the request's row lock from the load on. If decide returns an
// error, nothing is saved and UpdateRequest returns the request as decide
// left it with that error, unwrapped, so callers can use errors.As. If
// saving fails (store.ErrConflict for a token hash or outbound ID that
// exists, say), nothing is saved. decide is called at most once, and
// must not call the Store's methods that change the same request.
func (s *Store) UpdateRequest(ctx context.Context, id string, decide func(*store.Request) (store.Effects, error)) (store.Request, error) {
	var r store.Request
	var decideErr error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = scanRequest(tx.QueryRow(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		var fx store.Effects
		if fx, decideErr = decide(&r); decideErr != nil {
			return decideErr
		}
		if r.ID != id {
			return fmt.Errorf("request ID changed to %q", r.ID)
		}
		n := count(requestColumns)
		b := &pgx.Batch{}
		queue(b, func(err error) error { return err }, `UPDATE requests SET (`+requestColumns+`) = (`+params(1, n)+`)
			WHERE id = $`+fmt.Sprint(n+1), append(requestArgs(r), id)...)
		return saveWithEffects(ctx, tx, b, fx)
	})
	switch {
	case decideErr != nil:
		return r, decideErr
	case err != nil:
		return store.Request{}, fmt.Errorf("update request %q: %w", id, err)
	}
	return r, nil
}

// ExpiringRequests returns up to limit pending ping and push requests that
// expire at or before now, by expiry and then by insertion. A zero
// ExpiresAt counts as the earliest time. A limit of 0 or less returns
// nothing.
func (s *Store) ExpiringRequests(ctx context.Context, now time.Time, limit int) ([]store.Request, error) {
	if limit <= 0 {
		return nil, nil
	}
	// The delivery_mode term matches the WHERE clause of the partial index
	// requests_expiring, so it must stay in this form.
	rows, err := s.pool.Query(ctx, `SELECT `+requestColumns+` FROM requests
		WHERE state = $1 AND delivery_mode IN ('ping', 'push')
			AND (expires_at IS NULL OR expires_at <= $2)
		ORDER BY expires_at NULLS FIRST, seq LIMIT $3`, store.Pending, timeArg(now), limit)
	if err != nil {
		return nil, fmt.Errorf("list expiring requests: %w", err)
	}
	rs, err := collect(rows, scanRequest)
	if err != nil {
		return nil, fmt.Errorf("list expiring requests: %w", err)
	}
	return rs, nil
}

// saveWithEffects adds the inserts of fx's tokens, outbound rows, audit
// events and single-use values to b, which holds the update of the record
// that made them, and sends it all in one round trip within tx. It
// returns the first statement's error.
func saveWithEffects(ctx context.Context, tx pgx.Tx, b *pgx.Batch, fx store.Effects) error {
	if len(fx.Once) > 0 {
		now := time.Now() // as UseOnce: the interface takes no clock
		for _, o := range fx.Once {
			queueOnce(b, o, now)
		}
	}
	for _, t := range fx.Tokens {
		if err := queueToken(b, t); err != nil {
			return err
		}
	}
	for _, o := range fx.Outbound {
		queueOutbound(b, o)
	}
	for _, e := range fx.Audit {
		if err := queueAudit(b, e); err != nil {
			return err
		}
	}
	return tx.SendBatch(ctx, b).Close()
}
