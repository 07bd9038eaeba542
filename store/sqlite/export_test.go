package sqlite

import (
	"database/sql"
	"io/fs"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"
)

// ExplainQueryPlan returns SQLite's plan for query, one step a line.
func ExplainQueryPlan(t testing.TB, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain %q: %v", query, err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Pragmas returns the values of the named pragmas on a write connection
// and on a read connection.
func Pragmas(t testing.TB, s *Store, names ...string) (write, read map[string]string) {
	t.Helper()
	write, read = map[string]string{}, map[string]string{}
	for _, n := range names {
		for db, m := range map[*sql.DB]map[string]string{s.w: write, s.r: read} {
			var v string
			if err := db.QueryRowContext(t.Context(), "PRAGMA "+n).Scan(&v); err != nil {
				t.Fatalf("PRAGMA %s: %v", n, err)
			}
			m[n] = v
		}
	}
	return write, read
}

// CreateAtVersion creates a database at path with the migrations up to
// and including version applied, as an older backchannel left it, and
// returns a connection to it.
func CreateAtVersion(t testing.TB, path string, version int64) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(t.Context(), version); err != nil {
		t.Fatalf("migrate to version %d: %v", version, err)
	}
	return db
}

// MigrateDown rolls the database of s back to version.
func MigrateDown(t testing.TB, s *Store, version int64) {
	t.Helper()
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.w, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(t.Context(), version); err != nil {
		t.Fatalf("migrate down to version %d: %v", version, err)
	}
}
