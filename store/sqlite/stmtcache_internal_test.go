package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"

	"modernc.org/sqlite"
)

// TestCachedStatementBusy runs a query again in one transaction, so on one
// connection, while the rows of its first run are open: the second run
// must get a statement of its own, and both must read every row.
func TestCachedStatementBusy(t *testing.T) {
	db := sql.OpenDB(stmtCacheConnector{dsn: dsn(filepath.Join(t.TempDir(), "t.db"), false), drv: &sqlite.Driver{}})
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	for n := range 3 {
		if _, err := db.Exec(`INSERT INTO t (n) VALUES (?)`, n); err != nil {
			t.Fatal(err)
		}
	}
	const q = `SELECT n FROM t ORDER BY n`
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	outer, err := tx.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for outer.Next() {
		var n int
		if err := outer.Scan(&n); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			var m int
			inner.Scan(&m)
			sum += n*10 + m
		}
		if err := inner.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	// (0+1+2)*10*3 + (0+1+2)*3
	if want := 99; sum != want {
		t.Errorf("sum over nested queries = %d, want %d", sum, want)
	}
}
