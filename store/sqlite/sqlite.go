package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/backchannel/backchannel/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// busyTimeoutMillis bounds how long a connection waits for a lock held by
// another process (a second backchannel on the same file, or the sqlite3
// shell). Within one Store, writers queue for the write connection instead.
const busyTimeoutMillis = 10_000

// Store is a store.Store on an SQLite database file. It is safe for
// concurrent use.
type Store struct {
	w    *sql.DB // the single write connection
	r    *sql.DB // read-only connections
	ckpt *sql.DB // the checkpointer's connection (checkpoint.go)

	clients clientCache // recently read clients (clientcache.go)

	wrote            chan struct{} // a write committed; the checkpointer may run
	checkpointerDone chan struct{} // closed when the checkpointer has stopped

	ops        chan *writeOp // write transactions for the writer (groupcommit.go)
	closed     chan struct{} // closed by Close: the writer stops
	writerDone chan struct{} // closed when the writer has stopped
	closeOnce  sync.Once
}

var _ store.Store = (*Store)(nil)

// Open opens the database at path, creating the file (mode 0600) and its
// directory if they do not exist, and applies any pending migrations, so
// that a `backchannel migrate` command is Open followed by Close.
// Connections use WAL mode, synchronous=NORMAL, foreign_keys=ON and a
// busy timeout of 10s for locks held by other processes.
func Open(ctx context.Context, path string) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open sqlite store: %w", err)
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	// The database holds private keys and secrets: create it readable by
	// its owner only. SQLite gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	f.Close()

	drv := &sqlite.Driver{}
	w := sql.OpenDB(stmtCacheConnector{dsn: dsn(abs, false), drv: drv})
	w.SetMaxOpenConns(1)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}

	r := sql.OpenDB(stmtCacheConnector{dsn: dsn(abs, true), drv: drv})
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	ckpt := sql.OpenDB(stmtCacheConnector{dsn: dsn(abs, false), drv: drv})
	ckpt.SetMaxOpenConns(1)
	if err := errors.Join(r.PingContext(ctx), ckpt.PingContext(ctx)); err != nil {
		w.Close()
		r.Close()
		ckpt.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	s := &Store{w: w, r: r, ckpt: ckpt,
		ops: make(chan *writeOp), closed: make(chan struct{}), writerDone: make(chan struct{}),
		wrote: make(chan struct{}, 1), checkpointerDone: make(chan struct{})}
	go s.writer()
	go s.checkpointer(ckpt)
	return s, nil
}

// dsn returns the modernc.org/sqlite data source name for the database
// file at the absolute path abs. Every connection sets its pragmas itself
// (they are per connection, except journal_mode, which is persistent).
func dsn(abs string, readOnly bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeoutMillis))
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "normal")
	if readOnly {
		q.Set("_query_only", "on")
	} else {
		q.Set("_journal_mode", "wal")
		// Take the write lock when the transaction begins, not at its
		// first write, so that a load-decide-save never has to upgrade
		// a read lock (which fails at once, without waiting, in WAL mode
		// when another process wrote in between).
		q.Set("_txlock", "immediate")
		// Keep the savepoint journals of group commit (groupcommit.go)
		// in memory: in a file they were a tenth of the server's CPU
		// on the poll path, in write system calls.
		q.Add("_pragma", "temp_store(memory)")
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walSafetyPages))
	}
	// A file: URI, with the path escaped, so that a '?' or '#' in the
	// path cannot be mistaken for the start of the parameters.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

// migrate applies the embedded migrations that db has not had yet.
func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Ping reports whether the database is reachable, for reads and writes.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite store: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite store: %w", err)
	}
	return nil
}

// Close closes the database. It checkpoints the write-ahead log, as the
// last connection to close does.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	<-s.writerDone
	<-s.checkpointerDone
	return errors.Join(s.ckpt.Close(), s.r.Close(), s.w.Close())
}

// check maps SQLite errors to the store's sentinel errors: a unique or
// primary key violation is store.ErrConflict and sql.ErrNoRows is
// store.ErrNotFound. The original error stays in the chain.
func check(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		}
	}
	return err
}

// execOne runs a statement that must change exactly one row; if it changes
// none, it returns store.ErrNotFound.
func execOne(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) error {
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		return check(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
