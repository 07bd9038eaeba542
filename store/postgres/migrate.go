package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
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

// Migrate applies the pending migrations to the database at url, as
// Open does, and closes its connections.
func Migrate(ctx context.Context, url string) error {
	pool, err := newPool(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := migrateUp(ctx, pool); err != nil {
		return fmt.Errorf("migrate postgres store: %w", err)
	}
	return nil
}

// MigrationStatus lists the embedded migrations, oldest first, and
// whether the database at url has had each. It changes nothing in the
// database, not even goose's version table.
func MigrationStatus(ctx context.Context, url string) ([]MigrationState, error) {
	pool, err := newPool(ctx, url)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := newProvider(db)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	// Provider.Status would create the version table if it were missing.
	var exists bool
	err = pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_tables
		WHERE schemaname = current_schema() AND tablename = $1)`, goose.DefaultTablename).Scan(&exists)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	if !exists {
		var out []MigrationState
		for _, src := range p.ListSources() {
			out = append(out, MigrationState{Version: src.Version, Name: path.Base(src.Path)})
		}
		return out, nil
	}
	status, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]MigrationState, 0, len(status))
	for _, st := range status {
		m := MigrationState{Version: st.Source.Version, Name: path.Base(st.Source.Path)}
		if st.State == goose.StateApplied {
			m.Applied, m.AppliedAt = true, st.AppliedAt.UTC()
		}
		out = append(out, m)
	}
	return out, nil
}

// newProvider returns a goose provider of the embedded migrations on db.
func newProvider(db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, fsys)
}

// migrateUp applies the pending migrations while holding an advisory
// lock on the current schema, so that instances starting together
// migrate one after another: the first applies the migrations, the
// others find nothing left to do.
func migrateUp(ctx context.Context, pool *pgxpool.Pool) error {
	// The lock is held by a connection of its own, outside the pool, so
	// that migrating cannot wait for the pool's last connection (with
	// pool_max_conns=1, say), and closing the connection releases the
	// lock whatever happened.
	lock, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer lock.Close(context.WithoutCancel(ctx))
	// pg_advisory_lock waits for the lock; pgx cancels it if ctx ends.
	_, err = lock.Exec(ctx, `SELECT pg_advisory_lock(hashtext('backchannel migrate'), hashtext(coalesce(current_schema(), '')))`)
	if err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}

	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := newProvider(db)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
