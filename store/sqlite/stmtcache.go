package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"

	"modernc.org/sqlite"
)

// maxCachedStmts bounds each connection's statement cache. The store runs
// a fixed set of queries (a few dozen); queries past the bound are
// prepared and finalized each time, as without the cache.
const maxCachedStmts = 128

// stmtCacheConnector opens modernc connections that keep each query's
// prepared statement for the life of the connection. database/sql prepares
// and finalizes a statement for every ExecContext and QueryContext it is
// given a string for, and compiling SQL was a quarter of the server's CPU
// time on the poll path (docs/performance.md). The cache lives below
// database/sql, so the store's code keeps passing plain query strings.
type stmtCacheConnector struct {
	dsn string
	drv *sqlite.Driver
}

func (c stmtCacheConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &cachingConn{conn: conn, stmts: map[string]*cachedStmt{}}, nil
}

func (c stmtCacheConnector) Driver() driver.Driver { return c.drv }

// The interfaces of modernc's connection that database/sql uses.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachingConn is a connection with a statement cache. database/sql uses a
// connection from one goroutine at a time, so it needs no lock.
type cachingConn struct {
	conn  driver.Conn
	stmts map[string]*cachedStmt
}

// cachedStmt is a prepared statement; busy while rows it returned are
// open, when a second query with the same text gets a statement of its own.
type cachedStmt struct {
	st   driver.Stmt
	busy bool
}

func (c *cachingConn) sq() sqliteConn { return c.conn.(sqliteConn) }

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) { return c.conn.Prepare(query) }
func (c *cachingConn) Begin() (driver.Tx, error) {
	return c.sq().BeginTx(context.Background(), driver.TxOptions{})
}
func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.sq().BeginTx(ctx, opts)
}
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.sq().PrepareContext(ctx, query)
}
func (c *cachingConn) Ping(ctx context.Context) error         { return c.sq().Ping(ctx) }
func (c *cachingConn) ResetSession(ctx context.Context) error { return c.sq().ResetSession(ctx) }
func (c *cachingConn) IsValid() bool                          { return c.sq().IsValid() }

func (c *cachingConn) Close() error {
	var errs []error
	for q, s := range c.stmts {
		errs = append(errs, s.st.Close())
		delete(c.stmts, q)
	}
	return errors.Join(append(errs, c.conn.Close())...)
}

// stmt returns the cached statement for query, preparing it if need be.
// A nil *cachedStmt means the statement is not cached: close it after use.
func (c *cachingConn) stmt(ctx context.Context, query string) (driver.Stmt, *cachedStmt, error) {
	if s := c.stmts[query]; s != nil && !s.busy {
		return s.st, s, nil
	}
	st, err := c.sq().PrepareContext(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	if _, dup := c.stmts[query]; dup || len(c.stmts) >= maxCachedStmts {
		return st, nil, nil
	}
	s := &cachedStmt{st: st}
	c.stmts[query] = s
	return st, s, nil
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	st, cached, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if cached == nil {
		defer st.Close()
	}
	return st.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	st, cached, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		if cached == nil {
			st.Close()
		}
		return nil, err
	}
	if cached != nil {
		cached.busy = true
	}
	return &cachedRows{Rows: rows, st: st, cached: cached}, nil
}

// cachedRows releases its statement when closed: back to the cache, or
// finalized if it was not cached.
type cachedRows struct {
	driver.Rows
	st     driver.Stmt
	cached *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if r.cached != nil {
		r.cached.busy = false
	} else {
		err = errors.Join(err, r.st.Close())
	}
	return err
}
