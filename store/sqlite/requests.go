package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/backchannel/backchannel/store"
)

const requestColumns = `id, auth_req_hash, client_id, subject, state, scopes, acr_values,
	binding_message, notification_token_hash, delivery_mode, created_at, expires_at,
	poll_interval, next_poll_at, decided_at, device_id, acr, amr, decision`

func scanRequest(row scanner) (store.Request, error) {
	var r store.Request
	err := row.Scan(&r.ID, blobDest{&r.AuthReqHash}, &r.ClientID, &r.Subject, &r.State,
		listDest{&r.Scopes}, listDest{&r.ACRValues}, &r.Binding, blobDest{&r.NotificationTokenHash},
		&r.DeliveryMode, timeDest{&r.CreatedAt}, timeDest{&r.ExpiresAt}, &r.Interval,
		timeDest{&r.NextPollAt}, timeDest{&r.DecidedAt}, &r.DeviceID, &r.ACR, listDest{&r.AMR}, &r.Decision)
	return r, check(err)
}

// CreateRequest adds r. It returns store.ErrConflict if r.ID or a set
// r.AuthReqHash exists.
func (s *Store) CreateRequest(ctx context.Context, r store.Request) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO requests (`+requestColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, blobArg(r.AuthReqHash), r.ClientID, r.Subject, r.State,
		listArg(r.Scopes), listArg(r.ACRValues), r.Binding, blobArg(r.NotificationTokenHash),
		r.DeliveryMode, timeArg(r.CreatedAt), timeArg(r.ExpiresAt), r.Interval,
		timeArg(r.NextPollAt), timeArg(r.DecidedAt), r.DeviceID, r.ACR, listArg(r.AMR), r.Decision)
	if err != nil {
		return fmt.Errorf("create request %q: %w", r.ID, check(err))
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
// the effects' tokens, all in one write transaction. If decide returns an
// error, nothing is saved and UpdateRequest returns the request as decide
// left it with that error, unwrapped, so callers can use errors.As. If
// saving fails (store.ErrConflict for a token hash that exists, say),
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
		var fx store.Effects
		if fx, decideErr = decide(&r); decideErr != nil {
			return decideErr
		}
		if r.ID != id {
			return fmt.Errorf("request ID changed to %q", r.ID)
		}
		_, err = tx.ExecContext(ctx, `UPDATE requests SET auth_req_hash = ?, client_id = ?, subject = ?,
			state = ?, scopes = ?, acr_values = ?, binding_message = ?, notification_token_hash = ?,
			delivery_mode = ?, created_at = ?, expires_at = ?, poll_interval = ?, next_poll_at = ?,
			decided_at = ?, device_id = ?, acr = ?, amr = ?, decision = ?
			WHERE id = ?`,
			blobArg(r.AuthReqHash), r.ClientID, r.Subject,
			r.State, listArg(r.Scopes), listArg(r.ACRValues), r.Binding, blobArg(r.NotificationTokenHash),
			r.DeliveryMode, timeArg(r.CreatedAt), timeArg(r.ExpiresAt), r.Interval, timeArg(r.NextPollAt),
			timeArg(r.DecidedAt), r.DeviceID, r.ACR, listArg(r.AMR), r.Decision,
			id)
		if err != nil {
			return check(err)
		}
		for _, t := range fx.Tokens {
			if err := insertToken(ctx, tx, t); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case decideErr != nil:
		return r, decideErr
	case err != nil:
		return store.Request{}, fmt.Errorf("update request %q: %w", id, err)
	}
	return r, nil
}

const tokenColumns = `hash, kind, client_id, subject, scopes, request_id, issued_at, expires_at`

func scanToken(row scanner) (store.Token, error) {
	var t store.Token
	err := row.Scan(blobDest{&t.Hash}, &t.Kind, &t.ClientID, &t.Subject, listDest{&t.Scopes},
		&t.RequestID, timeDest{&t.IssuedAt}, timeDest{&t.ExpiresAt})
	return t, check(err)
}

func insertToken(ctx context.Context, tx *sql.Tx, t store.Token) error {
	if len(t.Hash) == 0 {
		return fmt.Errorf("create token: empty hash")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.Kind, t.ClientID, t.Subject, listArg(t.Scopes), t.RequestID,
		timeArg(t.IssuedAt), timeArg(t.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create token: %w", check(err))
	}
	return nil
}

// Token returns the token whose Hash is hash, or store.ErrNotFound.
func (s *Store) Token(ctx context.Context, hash []byte) (store.Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if err != nil {
		return store.Token{}, fmt.Errorf("load token: %w", err)
	}
	return t, nil
}
