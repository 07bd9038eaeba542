package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/backchannel/backchannel/store"
)

// CreateEnrolment adds e. It returns store.ErrConflict if e.CodeHash
// exists.
func (s *Store) CreateEnrolment(ctx context.Context, e store.Enrolment) error {
	if len(e.CodeHash) == 0 {
		return errors.New("create enrolment: empty code hash")
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO enrolments (code_hash, subject, created_at, expires_at)
		VALUES (?, ?, ?, ?)`, e.CodeHash, e.Subject, timeArg(e.CreatedAt), timeArg(e.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create enrolment for %q: %w", e.Subject, check(err))
	}
	return nil
}

// RedeemEnrolment deletes the enrolment whose code hash is codeHash and
// creates d as a device of the enrolment's subject, in one write
// transaction; d.Subject is ignored. It returns store.ErrNotFound if the
// code does not exist, was used, or expired at or before now, and
// store.ErrConflict if d.ID exists (the code then stays usable).
func (s *Store) RedeemEnrolment(ctx context.Context, codeHash []byte, now time.Time, d store.Device) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var sub string
		var expiresAt time.Time
		err := tx.QueryRowContext(ctx, `SELECT subject, expires_at FROM enrolments WHERE code_hash = ?`,
			codeHash).Scan(&sub, timeDest{&expiresAt})
		if err != nil {
			return check(err)
		}
		if !expiresAt.After(now) {
			return store.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM enrolments WHERE code_hash = ?`, codeHash); err != nil {
			return err
		}
		d.Subject = sub
		return insertDevice(ctx, tx, d)
	})
	if err != nil {
		return fmt.Errorf("redeem enrolment: %w", err)
	}
	return nil
}

func insertDevice(ctx context.Context, tx *sql.Tx, d store.Device) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO devices (`+deviceColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.Subject, d.Name, jsonArg(d.PublicKey), timeArg(d.CreatedAt), timeArg(d.RevokedAt),
		d.Push.Endpoint, bytesArg(d.Push.P256DH), bytesArg(d.Push.Auth))
	if err != nil {
		return fmt.Errorf("create device %q: %w", d.ID, check(err))
	}
	return nil
}

const deviceColumns = `id, subject, name, public_key, created_at, revoked_at, push_endpoint, push_p256dh, push_auth`

func scanDevice(row scanner) (store.Device, error) {
	var d store.Device
	err := row.Scan(&d.ID, &d.Subject, &d.Name, jsonDest{&d.PublicKey}, timeDest{&d.CreatedAt}, timeDest{&d.RevokedAt},
		&d.Push.Endpoint, &d.Push.P256DH, &d.Push.Auth)
	return d, check(err)
}

// Device returns device id, or store.ErrNotFound. A revoked device is
// returned too, with RevokedAt set.
func (s *Store) Device(ctx context.Context, id string) (store.Device, error) {
	d, err := scanDevice(s.r.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = ?`, id))
	if err != nil {
		return store.Device{}, fmt.Errorf("load device %q: %w", id, err)
	}
	return d, nil
}

// Devices returns the user's devices, revoked ones included, in the order
// of their CreatedAt.
func (s *Store) Devices(ctx context.Context, sub string) ([]store.Device, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+deviceColumns+` FROM devices
		WHERE subject = ? ORDER BY created_at, rowid`, sub)
	if err != nil {
		return nil, fmt.Errorf("list devices of %q: %w", sub, err)
	}
	ds, err := collect(rows, scanDevice)
	if err != nil {
		return nil, fmt.Errorf("list devices of %q: %w", sub, err)
	}
	return ds, nil
}

// RevokeDevice sets the RevokedAt of device id to at and removes its push
// subscription, or returns store.ErrNotFound.
func (s *Store) RevokeDevice(ctx context.Context, id string, at time.Time) error {
	if err := execOne(ctx, s.w, `UPDATE devices SET revoked_at = ?,
		push_endpoint = '', push_p256dh = NULL, push_auth = NULL WHERE id = ?`, timeArg(at), id); err != nil {
		return fmt.Errorf("revoke device %q: %w", id, err)
	}
	return nil
}

// SetPushSubscription saves p as device id's push subscription, or
// returns store.ErrNotFound if the device does not exist or is revoked.
func (s *Store) SetPushSubscription(ctx context.Context, id string, p store.PushSubscription) error {
	if p.Endpoint == "" {
		return errors.New("set push subscription: empty endpoint")
	}
	err := execOne(ctx, s.w, `UPDATE devices SET push_endpoint = ?, push_p256dh = ?, push_auth = ?
		WHERE id = ? AND revoked_at IS NULL`, p.Endpoint, bytesArg(p.P256DH), bytesArg(p.Auth), id)
	if err != nil {
		return fmt.Errorf("set push subscription of device %q: %w", id, err)
	}
	return nil
}

// DeletePushSubscription removes device id's push subscription if its
// endpoint is endpoint, or whatever it is for an empty endpoint.
func (s *Store) DeletePushSubscription(ctx context.Context, id, endpoint string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE devices SET push_endpoint = '', push_p256dh = NULL, push_auth = NULL
		WHERE id = ? AND push_endpoint <> '' AND (? = '' OR push_endpoint = ?)`, id, endpoint, endpoint)
	if err != nil {
		return fmt.Errorf("delete push subscription of device %q: %w", id, err)
	}
	return nil
}

// ServerSecret returns the value under name, storing value first if
// there is none. The single write connection orders concurrent callers
// of one process; INSERT OR IGNORE orders those of several.
func (s *Store) ServerSecret(ctx context.Context, name string, value []byte) ([]byte, error) {
	if len(value) == 0 {
		return nil, errors.New("server secret: empty value")
	}
	var got []byte
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO server_secrets (name, value, created_at) VALUES (?, ?, ?)`,
			name, value, timeArg(time.Now())); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM server_secrets WHERE name = ?`, name).Scan(&got)
	})
	if err != nil {
		return nil, fmt.Errorf("server secret %q: %w", name, check(err))
	}
	return got, nil
}

// bytesArg stores an empty byte slice as NULL.
func bytesArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
