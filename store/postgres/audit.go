package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backchannel/backchannel/store"
)

const auditColumns = `id, at, kind, request_id, client_id, subject, device_id, detail`

func scanAudit(row pgx.Row) (store.AuditEvent, error) {
	var e store.AuditEvent
	err := row.Scan(&e.ID, timeDest{&e.At}, &e.Kind, &e.RequestID, &e.ClientID, &e.Subject, &e.DeviceID, jsonDest(&e.Detail))
	return e, check(err)
}

// queueAudit adds the insert of e to b.
func queueAudit(b *pgx.Batch, e store.AuditEvent) error {
	if e.ID == "" || e.Kind == "" || e.At.IsZero() {
		return errors.New("audit event: ID, Kind and At are required")
	}
	queue(b, func(err error) error { return fmt.Errorf("append audit event: %w", err) },
		`INSERT INTO audit (`+auditColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.ID, timeArg(e.At), e.Kind, e.RequestID, e.ClientID, e.Subject, e.DeviceID, jsonArg(e.Detail))
	return nil
}

// AppendAudit records events, all or none.
func (s *Store) AppendAudit(ctx context.Context, events ...store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, e := range events {
		if err := queueAudit(b, e); err != nil {
			return err
		}
	}
	// A batch without BEGIN runs as one implicit transaction.
	return s.pool.SendBatch(ctx, b).Close()
}

// AppendAuditIfAbsent records, in one implicit transaction, the events
// whose ID is not recorded yet.
func (s *Store) AppendAuditIfAbsent(ctx context.Context, events ...store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, e := range events {
		if e.ID == "" || e.Kind == "" || e.At.IsZero() {
			return errors.New("audit event: ID, Kind and At are required")
		}
		queue(b, func(err error) error { return fmt.Errorf("append audit event: %w", err) },
			`INSERT INTO audit (`+auditColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (id) DO NOTHING`,
			e.ID, timeArg(e.At), e.Kind, e.RequestID, e.ClientID, e.Subject, e.DeviceID, jsonArg(e.Detail))
	}
	return s.pool.SendBatch(ctx, b).Close()
}

// AuditEvents returns the events q selects, oldest first (by At, then by
// insertion).
func (s *Store) AuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	var where []string
	var args []any
	cond := func(term string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(term, len(args)))
	}
	// The "<> ''" terms match the partial indexes.
	if q.RequestID != "" {
		cond("request_id = $%d AND request_id <> ''", q.RequestID)
	}
	if q.Subject != "" {
		cond("subject = $%d AND subject <> ''", q.Subject)
	}
	if q.ClientID != "" {
		cond("client_id = $%d AND client_id <> ''", q.ClientID)
	}
	if !q.Since.IsZero() {
		cond("at >= $%d", timeArg(q.Since))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	query := `SELECT ` + auditColumns + ` FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	query += fmt.Sprintf(` ORDER BY at, seq LIMIT $%d`, len(args))
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	events, err := collect(rows, scanAudit)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return events, nil
}

// Purge deletes what is no longer needed, at most limit rows of each kind,
// one statement (and so one short transaction) per kind. Rows that other
// transactions hold locked are skipped, not waited for: they go in a
// later batch, and purges running on several instances at once share the
// work instead of queueing.
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
		{&c.Requests, `DELETE FROM requests WHERE id IN (
			SELECT id FROM requests WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, before},
		{&c.Tokens, `DELETE FROM tokens WHERE hash IN (
			SELECT hash FROM tokens WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, before},
		{&c.UsedOnce, `DELETE FROM used_once WHERE id IN (
			SELECT id FROM used_once WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, before},
		{&c.Enrolments, `DELETE FROM enrolments WHERE code_hash IN (
			SELECT code_hash FROM enrolments WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, before},
		{&c.Outbound, `DELETE FROM outbox WHERE id IN (
			SELECT id FROM outbox WHERE state <> 'queued' AND done_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, before},
	}
	if !auditBefore.IsZero() {
		steps = append(steps, struct {
			n     *int
			query string
			at    time.Time
		}{&c.Audit, `DELETE FROM audit WHERE seq IN (
			SELECT seq FROM audit WHERE at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, auditBefore})
	}
	for _, st := range steps {
		tag, err := s.pool.Exec(ctx, st.query, timeArg(st.at), limit)
		if err != nil {
			return c, fmt.Errorf("purge: %w", check(err))
		}
		*st.n = int(tag.RowsAffected())
	}
	return c, nil
}
