package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backchannel/backchannel/store"
)

const auditColumns = `id, at, kind, request_id, client_id, subject, device_id, detail`

func scanAudit(row scanner) (store.AuditEvent, error) {
	var e store.AuditEvent
	err := row.Scan(&e.ID, timeDest{&e.At}, &e.Kind, &e.RequestID, &e.ClientID, &e.Subject, &e.DeviceID, jsonDest{&e.Detail})
	return e, check(err)
}

func insertAudit(ctx context.Context, tx *sql.Tx, e store.AuditEvent) error {
	if e.ID == "" || e.Kind == "" || e.At.IsZero() {
		return errors.New("audit event: ID, Kind and At are required")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, timeArg(e.At), e.Kind, e.RequestID, e.ClientID, e.Subject, e.DeviceID, jsonArg(e.Detail))
	if err != nil {
		return fmt.Errorf("append audit event: %w", check(err))
	}
	return nil
}

// AppendAudit records events in one transaction.
func (s *Store) AppendAudit(ctx context.Context, events ...store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, e := range events {
			if err := insertAudit(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// AppendAuditIfAbsent records, in one transaction, the events whose ID
// is not recorded yet.
func (s *Store) AppendAuditIfAbsent(ctx context.Context, events ...store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, e := range events {
			if err := insertAuditIfAbsent(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// insertAuditIfAbsent inserts e unless an event with its ID exists.
func insertAuditIfAbsent(ctx context.Context, tx *sql.Tx, e store.AuditEvent) error {
	if e.ID == "" || e.Kind == "" || e.At.IsZero() {
		return errors.New("audit event: ID, Kind and At are required")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`,
		e.ID, timeArg(e.At), e.Kind, e.RequestID, e.ClientID, e.Subject, e.DeviceID, jsonArg(e.Detail))
	if err != nil {
		return fmt.Errorf("append audit event: %w", check(err))
	}
	return nil
}

// AuditEvents returns the events q selects, oldest first.
func (s *Store) AuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	var where []string
	var args []any
	for col, v := range map[string]string{"request_id": q.RequestID, "subject": q.Subject, "client_id": q.ClientID} {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	if !q.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, timeArg(q.Since))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	query := `SELECT ` + auditColumns + ` FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY at, seq LIMIT ?`
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	events, err := collect(rows, scanAudit)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return events, nil
}

// Purge deletes what is no longer needed, at most limit rows of each kind
// in one short transaction each.
func (s *Store) Purge(ctx context.Context, before, auditBefore time.Time, limit int) (store.PurgeCounts, error) {
	var c store.PurgeCounts
	if limit <= 0 {
		return c, nil
	}
	steps := []struct {
		n     *int
		query string
		at    time.Time
	}{
		{&c.Requests, `DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE expires_at < ? LIMIT ?)`, before},
		{&c.Tokens, `DELETE FROM tokens WHERE hash IN (SELECT hash FROM tokens WHERE expires_at < ? LIMIT ?)`, before},
		{&c.UsedOnce, `DELETE FROM used_once WHERE id IN (SELECT id FROM used_once WHERE expires_at < ? LIMIT ?)`, before},
		{&c.Enrolments, `DELETE FROM enrolments WHERE code_hash IN (SELECT code_hash FROM enrolments WHERE expires_at < ? LIMIT ?)`, before},
		{&c.Outbound, `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state <> 'queued' AND done_at < ? LIMIT ?)`, before},
	}
	if !auditBefore.IsZero() {
		steps = append(steps, struct {
			n     *int
			query string
			at    time.Time
		}{&c.Audit, `DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE at < ? LIMIT ?)`, auditBefore})
	}
	for _, st := range steps {
		var n int64
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, st.query, timeArg(st.at), limit)
			if err != nil {
				return check(err)
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return c, fmt.Errorf("purge: %w", err)
		}
		*st.n = int(n)
	}
	return c, nil
}
