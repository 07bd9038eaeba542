package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// This file maps record fields to PostgreSQL values and back, so that
// every query states its conversions inline. Strings, booleans, integers
// and non-empty byte slices need no help from it.

// timeArg stores a time.Time as timestamptz, or NULL if it is zero.
// PostgreSQL keeps microseconds; pgx drops the nanoseconds below them.
type timeArg time.Time

func (a timeArg) TimestamptzValue() (pgtype.Timestamptz, error) {
	t := time.Time(a)
	if t.IsZero() {
		return pgtype.Timestamptz{}, nil
	}
	return pgtype.Timestamptz{Time: t, Valid: true}, nil
}

// timeDest reads what timeArg stored, as a UTC time; NULL reads as the
// zero time.
type timeDest struct{ t *time.Time }

func (d timeDest) ScanTimestamptz(v pgtype.Timestamptz) error {
	switch {
	case !v.Valid:
		*d.t = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return fmt.Errorf("scan time: %v is not a time", v.InfinityModifier)
	default:
		*d.t = v.Time.UTC()
	}
	return nil
}

// listArg stores a string list as text[]; nil is the empty array, as the
// columns are NOT NULL.
func listArg(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// emptyToNil makes an empty list read back as nil.
func emptyToNil(l *[]string) {
	if len(*l) == 0 {
		*l = nil
	}
}

// jsonArg stores a json.RawMessage as jsonb, or NULL if it is empty.
// jsonb keeps the value, not the text: key order and spaces may change.
func jsonArg(m json.RawMessage) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// jsonDest reads what jsonArg stored; NULL reads as nil.
func jsonDest(m *json.RawMessage) *[]byte {
	return (*[]byte)(m)
}

// blobArg stores a []byte as bytea, or NULL if it is empty, so that an
// absent hash never collides with another in a unique index. A bytea
// scanned into a *[]byte reads NULL as nil.
func blobArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// collect scans every row with scan and closes rows. It returns nil, not
// an empty slice, when there are no rows.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// queue adds query to b. If the statement fails, the batch fails with
// what wrap makes of the error, after check has mapped it.
func queue(b *pgx.Batch, wrap func(error) error, query string, args ...any) {
	b.Queue(query, args...).Fn = func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return wrap(check(err))
		}
		return nil
	}
}
