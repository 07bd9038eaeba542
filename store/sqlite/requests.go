package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/backchannel/backchannel/store"
)

const requestColumns = `id, auth_req_hash, client_id, subject, state, scopes, acr_values,
	binding_message, notification_token, auth_req_id, delivery_mode, created_at,
	expires_at, poll_interval, next_poll_at, decided_at, device_id, acr, amr, decision,
	authorization_details`

// requestFieldColumns are the columns of requestColumns after id, in the
// order of requestFieldArgs.
var requestFieldColumns = []string{"auth_req_hash", "client_id", "subject", "state", "scopes",
	"acr_values", "binding_message", "notification_token", "auth_req_id", "delivery_mode",
	"created_at", "expires_at", "poll_interval", "next_poll_at", "decided_at", "device_id",
	"acr", "amr", "decision", "authorization_details"}

// requestFieldArgs returns r's fields but its ID as statement arguments,
// in the order of requestFieldColumns.
func requestFieldArgs(r store.Request) []any {
	return []any{blobArg(r.AuthReqHash), r.ClientID, r.Subject, r.State,
		listArg(r.Scopes), listArg(r.ACRValues), r.Binding, r.NotificationToken, r.AuthReqID,
		r.DeliveryMode, timeArg(r.CreatedAt), timeArg(r.ExpiresAt), r.Interval,
		timeArg(r.NextPollAt), timeArg(r.DecidedAt), r.DeviceID, r.ACR, listArg(r.AMR), r.Decision,
		jsonArg(r.AuthorizationDetails)}
}

// changedRequestColumns returns an UPDATE of the columns whose stored
// values differ between before and after, with its arguments, or "" if
// none does. Setting only what changed spares SQLite the rewrite of every
// index on the request's columns (the subject's, the auth_req_id hash's,
// the expiry's) when a decision or a poll changes none of them.
func changedRequestColumns(id string, before, after store.Request) (string, []any, error) {
	b, a := requestFieldArgs(before), requestFieldArgs(after)
	var set strings.Builder
	var args []any
	for i := range a {
		same, err := sameStoredValue(b[i], a[i])
		if err != nil {
			return "", nil, err
		}
		if same {
			continue
		}
		if set.Len() > 0 {
			set.WriteString(", ")
		}
		set.WriteString(requestFieldColumns[i])
		set.WriteString(" = ?")
		args = append(args, a[i])
	}
	if len(args) == 0 {
		return "", nil, nil
	}
	return `UPDATE requests SET ` + set.String() + ` WHERE id = ?`, append(args, id), nil
}

// sameStoredValue reports whether two statement arguments store the same
// value.
func sameStoredValue(x, y any) (bool, error) {
	xv, err := storedValue(x)
	if err != nil {
		return false, err
	}
	yv, err := storedValue(y)
	if err != nil {
		return false, err
	}
	if xb, ok := xv.([]byte); ok {
		yb, ok := yv.([]byte)
		return ok && bytes.Equal(xb, yb) && (xb == nil) == (yb == nil), nil
	}
	if _, ok := yv.([]byte); ok {
		return false, nil
	}
	return xv == yv, nil
}

func storedValue(v any) (driver.Value, error) {
	if vr, ok := v.(driver.Valuer); ok {
		return vr.Value()
	}
	return driver.DefaultParameterConverter.ConvertValue(v)
}

func scanRequest(row scanner) (store.Request, error) {
	var r store.Request
	err := row.Scan(&r.ID, blobDest{&r.AuthReqHash}, &r.ClientID, &r.Subject, &r.State,
		listDest{&r.Scopes}, listDest{&r.ACRValues}, &r.Binding, &r.NotificationToken,
		&r.AuthReqID, &r.DeliveryMode, timeDest{&r.CreatedAt}, timeDest{&r.ExpiresAt}, &r.Interval,
		timeDest{&r.NextPollAt}, timeDest{&r.DecidedAt}, &r.DeviceID, &r.ACR, listDest{&r.AMR}, &r.Decision,
		jsonDest{&r.AuthorizationDetails})
	return r, check(err)
}

// CreateRequest adds r. It returns store.ErrConflict if r.ID or a set
// r.AuthReqHash exists.
func (s *Store) CreateRequest(ctx context.Context, r store.Request, fx ...store.Effects) error {
	insert := func(ctx context.Context, db interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}) error {
		_, err := db.ExecContext(ctx, `INSERT INTO requests (`+requestColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			append([]any{r.ID}, requestFieldArgs(r)...)...)
		return check(err)
	}
	var err error
	if len(fx) == 0 {
		// One statement is its own transaction.
		err = insert(ctx, s.w)
	} else {
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			if err := insert(ctx, tx); err != nil {
				return err
			}
			for _, e := range fx {
				if err := insertEffects(ctx, tx, e); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("create request %q: %w", r.ID, err)
	}
	return nil
}

// Request returns request id, or store.ErrNotFound.
func (s *Store) Request(ctx context.Context, id string) (store.Request, error) {
	r, err := scanRequest(s.r.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = ?`, id))
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
	r, err := scanRequest(s.r.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM requests WHERE auth_req_hash = ?`, h))
	if err != nil {
		return store.Request{}, fmt.Errorf("load request by auth_req_id: %w", err)
	}
	return r, nil
}

// PendingRequests returns the user's pending requests that expire after
// now, oldest (by CreatedAt) first.
func (s *Store) PendingRequests(ctx context.Context, sub string, now time.Time) ([]store.Request, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+requestColumns+` FROM requests
		WHERE subject = ? AND state = ? AND expires_at > ?
		ORDER BY created_at, rowid`, sub, store.Pending, timeArg(now))
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
// the effects' tokens and outbound rows, all in one write transaction. If decide returns an
// error, nothing is saved and UpdateRequest returns the request as decide
// left it with that error, unwrapped, so callers can use errors.As. If
// saving fails (store.ErrConflict for a token hash or outbound ID that exists, say),
// nothing is saved. decide is called at most once, and must not call the
// Store's write methods.
func (s *Store) UpdateRequest(ctx context.Context, id string, decide func(*store.Request) (store.Effects, error)) (store.Request, error) {
	var r store.Request
	var decideErr error
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanRequest(tx.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = ?`, id))
		if err != nil {
			return err
		}
		before := r
		before.Scopes, before.ACRValues, before.AMR = slices.Clone(r.Scopes), slices.Clone(r.ACRValues), slices.Clone(r.AMR)
		before.AuthReqHash, before.AuthorizationDetails = bytes.Clone(r.AuthReqHash), bytes.Clone(r.AuthorizationDetails)
		var fx store.Effects
		if fx, decideErr = decide(&r); decideErr != nil {
			return decideErr
		}
		if r.ID != id {
			return fmt.Errorf("request ID changed to %q", r.ID)
		}
		update, args, err := changedRequestColumns(id, before, r)
		if err != nil {
			return err
		}
		if update != "" {
			if _, err := tx.ExecContext(ctx, update, args...); err != nil {
				return check(err)
			}
		}
		return insertEffects(ctx, tx, fx)
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
// expire at or before now, by expiry and then by creation. A zero ExpiresAt
// counts as the earliest time. A limit of 0 or less returns nothing.
func (s *Store) ExpiringRequests(ctx context.Context, now time.Time, limit int) ([]store.Request, error) {
	if limit <= 0 {
		return nil, nil
	}
	// The delivery_mode term matches the WHERE clause of the partial index
	// requests_expiring, so it must stay in this form.
	rows, err := s.r.QueryContext(ctx, `SELECT `+requestColumns+` FROM requests
		WHERE state = ? AND delivery_mode IN ('ping', 'push')
			AND (expires_at IS NULL OR expires_at <= ?)
		ORDER BY expires_at, rowid LIMIT ?`, store.Pending, timeArg(now), limit)
	if err != nil {
		return nil, fmt.Errorf("list expiring requests: %w", err)
	}
	rs, err := collect(rows, scanRequest)
	if err != nil {
		return nil, fmt.Errorf("list expiring requests: %w", err)
	}
	return rs, nil
}

// insertEffects creates the tokens, outbound rows and audit events of fx
// in tx and records its single-use values.
func insertEffects(ctx context.Context, tx *sql.Tx, fx store.Effects) error {
	if len(fx.Once) > 0 {
		now := time.Now() // as UseOnce: the interface takes no clock
		for _, o := range fx.Once {
			if err := useOnce(ctx, tx, o, now); err != nil {
				return fmt.Errorf("use once: %w", err)
			}
		}
	}
	for _, t := range fx.Tokens {
		if err := insertToken(ctx, tx, t); err != nil {
			return err
		}
	}
	for _, o := range fx.Outbound {
		if err := insertOutbound(ctx, tx, o); err != nil {
			return err
		}
	}
	for _, e := range fx.Audit {
		if err := insertAudit(ctx, tx, e); err != nil {
			return err
		}
	}
	return nil
}
