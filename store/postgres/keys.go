package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/backchannel/backchannel/store"
)

const signingKeyColumns = `id, alg, private_jwk, created_at, retired_at`

func scanSigningKey(row pgx.Row) (store.SigningKey, error) {
	var k store.SigningKey
	err := row.Scan(&k.ID, &k.Alg, jsonDest(&k.PrivateJWK), timeDest{&k.CreatedAt}, timeDest{&k.RetiredAt})
	return k, check(err)
}

func insertSigningKey(ctx context.Context, db execer, k store.SigningKey) error {
	_, err := db.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		k.ID, k.Alg, jsonArg(k.PrivateJWK), timeArg(k.CreatedAt), timeArg(k.RetiredAt))
	if err != nil {
		return fmt.Errorf("create signing key %q: %w", k.ID, check(err))
	}
	return nil
}

// CreateSigningKey adds k. It returns store.ErrConflict if k.ID exists, or
// if k is active (RetiredAt is zero) and k.Alg already has an active key.
func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	return insertSigningKey(ctx, s.pool, k)
}

// SigningKeys returns every key, retired ones included, newest (by
// CreatedAt, then by insertion) first.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys
		ORDER BY created_at DESC NULLS LAST, seq DESC`)
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
// ignored), in one transaction. If k.ID exists it returns
// store.ErrConflict and retires nothing.
//
// Rotations take the table in SHARE ROW EXCLUSIVE mode, which lets
// readers in but no other writer, so they run one after another. Row
// locks would not do: when an alg has no active key there is no row to
// lock, and two rotations would both insert one.
func (s *Store) RotateSigningKey(ctx context.Context, k store.SigningKey) error {
	k.RetiredAt = time.Time{}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if k.CreatedAt.IsZero() {
			return errors.New("zero CreatedAt")
		}
		if _, err := tx.Exec(ctx, `LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE signing_keys SET retired_at = $1 WHERE alg = $2 AND retired_at IS NULL`,
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

// queueOnce adds to b, which runs in a transaction, the recording of o as
// UseOnce records it at now; the batch fails with store.ErrConflict if
// o.Key is recorded and live.
func queueOnce(b *pgx.Batch, o store.Once, now time.Time) {
	b.Queue(`INSERT INTO used_once (id, expires_at) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
		WHERE used_once.expires_at <= $3`, o.Key, o.ExpiresAt, now).Fn = func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("use once: %w", check(err))
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("use once: %w", store.ErrConflict)
		}
		return nil
	}
}

// UseOnce records key until expiresAt. It returns store.ErrConflict if key
// is recorded with an expiry after the current time (time.Now, as the
// interface takes no clock); an expired record of key is replaced. Each
// call also deletes a few expired records, so that the table stays as
// small as the set of live keys.
//
// Concurrent calls with one key are settled by the upsert: the later one
// waits for the earlier to commit, then finds its live record and
// changes nothing.
func (s *Store) UseOnce(ctx context.Context, key string, expiresAt time.Time) error {
	now := time.Now()
	// The zero time is stored as it is, not as NULL: it has expired
	// already, but it still conflicts while key is live.
	b := &pgx.Batch{}
	recorded := false
	b.Queue(`INSERT INTO used_once (id, expires_at) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
		WHERE used_once.expires_at <= $3`, key, expiresAt, now).Exec(func(tag pgconn.CommandTag) error {
		recorded = tag.RowsAffected() == 1
		return nil
	})
	// SKIP LOCKED: rows other calls are replacing are theirs to keep.
	b.Queue(`DELETE FROM used_once WHERE id IN (
		SELECT id FROM used_once WHERE expires_at <= $1
		ORDER BY expires_at LIMIT 8 FOR UPDATE SKIP LOCKED)`, now)
	// A batch without BEGIN runs as one implicit transaction.
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("use once: %w", err)
	}
	if !recorded {
		return fmt.Errorf("use once: %w", store.ErrConflict)
	}
	return nil
}
