package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backchannel/backchannel/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a store.Store on a PostgreSQL database. It is safe for
// concurrent use, and any number of Stores, in one process or many, may
// share one database.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url, a postgres:// URL or a key=value
// connection string as pgx accepts it (pool_max_conns and the other
// pgxpool parameters included), and applies any pending migrations, so
// that `backchannel migrate up` is Open followed by Close. Errors never
// contain the password.
func Open(ctx context.Context, url string) (*Store, error) {
	pool, err := newPool(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := migrateUp(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	return &Store{pool: pool}, nil
}

// newPool parses url and makes a pool of connections to it; the pool
// connects lazily.
func newPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	// pgx redacts the password in its parse errors.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	return pool, nil
}

// Ping reports whether the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres store: %w", err)
	}
	return nil
}

// Close closes every connection, waiting for those in use to be
// returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// inTx runs fn in a READ COMMITTED transaction and commits it if fn
// returns nil. fn locks the rows it loads to change (SELECT … FOR
// UPDATE), which is what serializes concurrent updates of one record:
// at READ COMMITTED a locked row is read as the last update committed
// it, where a stricter level would fail with a serialization error
// instead. The level is asked for, not assumed, in case the server's
// default_transaction_isolation is stricter.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return err
	}
	// Roll back on error, and also if fn panics, so that no transaction
	// keeps its locks. After Commit, Rollback does nothing. If ctx has
	// ended, Rollback closes the connection instead, and the server rolls
	// back when it sees it closed.
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// uniqueViolation is the SQLSTATE of unique_violation.
const uniqueViolation = "23505"

// check maps PostgreSQL errors to the store's sentinel errors: a unique
// or primary key violation is store.ErrConflict and pgx.ErrNoRows is
// store.ErrNotFound. The original error stays in the chain of a conflict.
func check(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == uniqueViolation {
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return err
}

// execer is a *pgxpool.Pool or a pgx.Tx.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// execOne runs a statement that must change exactly one row; if it changes
// none, it returns store.ErrNotFound.
func execOne(ctx context.Context, db execer, query string, args ...any) error {
	tag, err := db.Exec(ctx, query, args...)
	if err != nil {
		return check(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// params returns the placeholders $from to $(from+n-1), comma-separated.
func params(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", from+i)
	}
	return b.String()
}

// count returns the number of columns in a comma-separated column list.
func count(columns string) int {
	return strings.Count(columns, ",") + 1
}
