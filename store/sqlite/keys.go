package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/backchannel/backchannel/store"
)

const signingKeyColumns = `id, alg, private_jwk, created_at, retired_at`

func scanSigningKey(row scanner) (store.SigningKey, error) {
	var k store.SigningKey
	err := row.Scan(&k.ID, &k.Alg, jsonDest{&k.PrivateJWK}, timeDest{&k.CreatedAt}, timeDest{&k.RetiredAt})
	return k, check(err)
}

func insertSigningKey(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, k store.SigningKey) error {
	_, err := db.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES (?, ?, ?, ?, ?)`,
		k.ID, k.Alg, jsonArg(k.PrivateJWK), timeArg(k.CreatedAt), timeArg(k.RetiredAt))
	if err != nil {
		return fmt.Errorf("create signing key %q: %w", k.ID, check(err))
	}
	return nil
}

// CreateSigningKey adds k. It returns store.ErrConflict if k.ID exists, or
// if k is active (RetiredAt is zero) and k.Alg already has an active key.
func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	return insertSigningKey(ctx, s.w, k)
}

// SigningKeys returns every key, retired ones included, newest (by
// CreatedAt) first.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys
		ORDER BY created_at DESC, rowid DESC`)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	ks, err := collect(rows, scanSigningKey)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return ks, nil
}

// RotateSigningKey retires the active key of k.Alg, if there is one, at
// k.CreatedAt, and adds k as the active key of its alg (k.RetiredAt is
// ignored), in one write transaction. If k.ID exists it returns
// store.ErrConflict and retires nothing.
func (s *Store) RotateSigningKey(ctx context.Context, k store.SigningKey) error {
	k.RetiredAt = time.Time{}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if k.CreatedAt.IsZero() {
			return errors.New("zero CreatedAt")
		}
		_, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retired_at = ? WHERE alg = ? AND retired_at IS NULL`,
			timeArg(k.CreatedAt), k.Alg)
		if err != nil {
			return err
		}
		return insertSigningKey(ctx, tx, k)
	})
	if err != nil {
		return fmt.Errorf("rotate %s signing key: %w", k.Alg, err)
	}
	return nil
}

// UseOnce records key until expiresAt. It returns store.ErrConflict if key
// is recorded with an expiry after the current time (time.Now, as the
// interface takes no clock); an expired record of key is replaced. Each
// call also deletes a few expired records, so that the table stays as
// small as the set of live keys.
func (s *Store) UseOnce(ctx context.Context, key string, expiresAt time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return useOnce(ctx, tx, store.Once{Key: key, ExpiresAt: expiresAt}, time.Now())
	})
	if err != nil {
		return fmt.Errorf("use once: %w", err)
	}
	return nil
}

// useOnce records o in tx as UseOnce does, at now: store.ErrConflict if
// o.Key is recorded and live at now. It also deletes a few expired
// records, so that the table stays as small as the set of live keys.
func useOnce(ctx context.Context, tx *sql.Tx, o store.Once, now time.Time) error {
	expiresAt := o.ExpiresAt
	if expiresAt.IsZero() {
		expiresAt = minTime // expired already, but still a conflict if the key is live
	}
	// The upsert changes no row when the existing record is live.
	res, err := tx.ExecContext(ctx, `INSERT INTO used_once (id, expires_at) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
		WHERE used_once.expires_at <= ?`,
		o.Key, timeArg(expiresAt), timeArg(now))
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrConflict
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM used_once WHERE id IN (
		SELECT id FROM used_once WHERE expires_at <= ? ORDER BY expires_at LIMIT 8)`, timeArg(now))
	return err
}
