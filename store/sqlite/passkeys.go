package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/backchannel/backchannel/store"
)

// SavePasskeyChallenge records hash as device deviceID's outstanding
// registration challenge until expiresAt, replacing any earlier one.
func (s *Store) SavePasskeyChallenge(ctx context.Context, deviceID string, hash []byte, expiresAt time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO passkey_challenges (device_id, challenge, expires_at)
			VALUES (?, ?, ?)
			ON CONFLICT (device_id) DO UPDATE SET challenge = excluded.challenge, expires_at = excluded.expires_at`,
			deviceID, hash, timeArg(expiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("save passkey challenge of device %q: %w", deviceID, check(err))
	}
	return nil
}

// CreatePasskey consumes device p.DeviceID's challenge, which must be
// challengeHash and expire after now, and adds p, in one transaction.
func (s *Store) CreatePasskey(ctx context.Context, p store.Passkey, challengeHash []byte, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		err := execOne(ctx, tx, `DELETE FROM passkey_challenges
			WHERE device_id = ? AND challenge = ? AND expires_at > ?`,
			p.DeviceID, challengeHash, timeArg(now))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO passkeys (id, device_id, subject, record, created_at, last_used_at)
			VALUES (?, ?, ?, ?, ?, ?)`,
			p.ID, p.DeviceID, p.Subject, string(p.Record), timeArg(p.CreatedAt), timeArg(p.LastUsedAt))
		return check(err)
	})
	if err != nil {
		return fmt.Errorf("create passkey of device %q: %w", p.DeviceID, err)
	}
	return nil
}

func scanPasskey(row scanner) (store.Passkey, error) {
	var p store.Passkey
	var record string
	err := row.Scan(&p.ID, &p.DeviceID, &p.Subject, &record, timeDest{&p.CreatedAt}, timeDest{&p.LastUsedAt})
	p.Record = json.RawMessage(record)
	return p, check(err)
}

// Passkeys returns device deviceID's passkeys in the order of creation.
func (s *Store) Passkeys(ctx context.Context, deviceID string) ([]store.Passkey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, device_id, subject, record, created_at, last_used_at
		FROM passkeys WHERE device_id = ? ORDER BY created_at, rowid`, deviceID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys of device %q: %w", deviceID, err)
	}
	ps, err := collect(rows, scanPasskey)
	if err != nil {
		return nil, fmt.Errorf("list passkeys of device %q: %w", deviceID, err)
	}
	return ps, nil
}

// UsePasskey saves passkey id's record and LastUsedAt.
func (s *Store) UsePasskey(ctx context.Context, id string, record json.RawMessage, at time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, `UPDATE passkeys SET record = ?, last_used_at = ? WHERE id = ?`,
			string(record), timeArg(at), id)
	})
	if err != nil {
		return fmt.Errorf("use passkey %q: %w", id, err)
	}
	return nil
}

// DeletePasskey removes device deviceID's passkey id.
func (s *Store) DeletePasskey(ctx context.Context, deviceID, id string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, `DELETE FROM passkeys WHERE id = ? AND device_id = ?`, id, deviceID)
	})
	if err != nil {
		return fmt.Errorf("delete passkey %q: %w", id, err)
	}
	return nil
}
