package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pressly/goose/v3"
)

// MigrationState is one of the package's embedded schema migrations and
// whether a database has had it.
type MigrationState struct {
	Version   int64
	Name      string // the migration's file name, e.g. 00001_init.sql
	Applied   bool
	AppliedAt time.Time // in UTC; zero while pending
}

// Migrate applies the pending migrations to the database at path,
// creating it if it does not exist: it is Open followed by Close.
func Migrate(ctx context.Context, path string) error {
	s, err := Open(ctx, path)
	if err != nil {
		return err
	}
	return s.Close()
}

// MigrationStatus lists the embedded migrations, oldest first, and
// whether the database at path has had each. It changes nothing: it reads
// through a query-only connection, and a database that does not exist is
// reported with every migration pending, not created.
func MigrationStatus(ctx context.Context, path string) ([]MigrationState, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	// sql.Open connects lazily, so a missing file stays missing.
	db, err := sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	exists := false
	switch _, err := os.Stat(abs); {
	case err == nil:
		// Provider.Status would try to create the version table if it
		// were missing.
		err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_master
			WHERE type = 'table' AND name = ?)`, goose.DefaultTablename).Scan(&exists)
		if err != nil {
			return nil, fmt.Errorf("migration status: %w", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("migration status: %w", err)
	}
	if !exists {
		var out []MigrationState
		for _, src := range p.ListSources() {
			out = append(out, MigrationState{Version: src.Version, Name: filepath.Base(src.Path)})
		}
		return out, nil
	}
	status, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]MigrationState, 0, len(status))
	for _, st := range status {
		m := MigrationState{Version: st.Source.Version, Name: filepath.Base(st.Source.Path)}
		if st.State == goose.StateApplied {
			m.Applied, m.AppliedAt = true, st.AppliedAt.UTC()
		}
		out = append(out, m)
	}
	return out, nil
}
