package sqlite

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// This file maps record fields to SQLite values and back. Arguments are
// driver.Valuers and scan destinations are sql.Scanners, so that every
// query states its conversions inline.

// Times are Unix nanoseconds, which cover the years 1678 to 2261. The zero
// time is NULL, so it round-trips, and so does every other time in range.
var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// timeArg stores a time.Time as Unix nanoseconds, or NULL if it is zero.
type timeArg time.Time

func (a timeArg) Value() (driver.Value, error) {
	t := time.Time(a)
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return nil, fmt.Errorf("time %v is outside the storable range %v to %v", t, minTime, maxTime)
	}
	return t.UnixNano(), nil
}

// timeDest reads what timeArg stored, as a UTC time.
type timeDest struct{ t *time.Time }

func (d timeDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.t = time.Time{}
	case int64:
		*d.t = time.Unix(0, v).UTC()
	default:
		return fmt.Errorf("scan time: unexpected %T", src)
	}
	return nil
}

// listArg stores a string list as a JSON array; nil and empty are "[]".
type listArg []string

func (a listArg) Value() (driver.Value, error) {
	if len(a) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal([]string(a))
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// listDest reads what listArg stored. An empty list reads as nil.
type listDest struct{ l *[]string }

func (d listDest) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("scan list: unexpected %T", src)
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("scan list: %w", err)
	}
	if len(l) == 0 {
		l = nil
	}
	*d.l = l
	return nil
}

// jsonArg stores a json.RawMessage as TEXT, or NULL if it is empty. The
// text is stored as given; the store does not validate it.
type jsonArg json.RawMessage

func (a jsonArg) Value() (driver.Value, error) {
	if len(a) == 0 {
		return nil, nil
	}
	return string(a), nil
}

// jsonDest reads what jsonArg stored. NULL reads as nil.
type jsonDest struct{ m *json.RawMessage }

func (d jsonDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.m = nil
	case string:
		*d.m = json.RawMessage(v)
	case []byte:
		*d.m = json.RawMessage(append([]byte(nil), v...))
	default:
		return fmt.Errorf("scan JSON: unexpected %T", src)
	}
	return nil
}

// blobArg stores a []byte as a BLOB, or NULL if it is empty, so that an
// absent hash never collides with another in a unique index.
type blobArg []byte

func (a blobArg) Value() (driver.Value, error) {
	if len(a) == 0 {
		return nil, nil
	}
	return []byte(a), nil
}

// blobDest reads what blobArg stored. NULL reads as nil.
type blobDest struct{ b *[]byte }

func (d blobDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.b = nil
	case []byte:
		*d.b = append([]byte(nil), v...)
	default:
		return fmt.Errorf("scan blob: unexpected %T", src)
	}
	return nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// collect scans every row with scan and closes rows. It returns nil, not
// an empty slice, when there are no rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
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
