package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
)

// maxGroup bounds how many write transactions one commit carries.
const maxGroup = 64

// Group commit. Every write of a Store is a transaction on the single
// write connection, and under load most of its cost is the commit: the
// WAL frames of every page it changed. The writer goroutine therefore
// runs the write transactions that are waiting when it is free in one
// SQLite transaction, each inside a savepoint of its own, and commits
// them together. Each keeps its contract: it sees the ones before it,
// a failing one is rolled back to its savepoint and alone returns its
// error, and none returns nil before the commit that makes it durable.
// A transaction that finds the writer idle runs alone, at once: nothing
// waits to fill a group.

// A writeOp is one write transaction waiting for, or run by, the writer.
type writeOp struct {
	ctx   context.Context
	fn    func(tx *sql.Tx) error
	state atomic.Int32 // opQueued, then opRunning (writer) or opCanceled (caller)
	done  chan opResult
}

// The states of a writeOp.
const (
	opQueued int32 = iota
	opRunning
	opCanceled
)

// opResult is what a writeOp's caller gets: fn's error, the commit's, or
// the value fn panicked with.
type opResult struct {
	err      error
	panicked bool
	value    any
}

// inTx runs fn in a write transaction and returns once that transaction
// committed (nil) or was rolled back (its error). fn must not call the
// Store's write methods: it runs on the writer, which would wait for
// itself. A panic in fn is passed on to the caller, after the writer
// rolled fn back. While fn has not started, ctx ending returns ctx's
// error; once fn runs, ctx ends only fn's statements.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan opResult, 1)}
	select {
	case s.ops <- op:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return errClosed
	}
	select {
	case res := <-op.done:
		return res.get()
	case <-ctx.Done():
		if op.state.CompareAndSwap(opQueued, opCanceled) {
			return ctx.Err()
		}
		// The writer runs it already: its outcome is the answer.
		return (<-op.done).get()
	}
}

func (r opResult) get() error {
	if r.panicked {
		panic(r.value)
	}
	return r.err
}

var errClosed = fmt.Errorf("sqlite store: closed")

// writer runs the write transactions sent to s.ops until s.closed is
// closed, in groups of what is waiting.
func (s *Store) writer() {
	defer close(s.writerDone)
	group := make([]*writeOp, 0, maxGroup)
	for {
		select {
		case op := <-s.ops:
			group = append(group[:0], op)
		case <-s.closed:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case op := <-s.ops:
				group = append(group, op)
			default:
				break more
			}
		}
		s.runGroup(group)
		clear(group)
	}
}

// runGroup runs group in one transaction and commits it.
func (s *Store) runGroup(group []*writeOp) {
	// The transaction outlives any one caller's context: each op's
	// statements use the op's own.
	tx, err := s.w.BeginTx(context.Background(), nil)
	if err != nil {
		for _, op := range group {
			if op.state.CompareAndSwap(opQueued, opRunning) {
				op.done <- opResult{err: err}
			}
		}
		return
	}
	savepoints := len(group) > 1
	var ok []*writeOp // ran without error; answered after the commit
	for _, op := range group {
		if !op.state.CompareAndSwap(opQueued, opRunning) {
			continue // its caller gave up waiting
		}
		if savepoints {
			if _, err := tx.Exec(`SAVEPOINT op`); err != nil {
				s.abort(tx, group, ok, op, err)
				return
			}
		}
		res := runOp(op, tx)
		if res.err == nil && !res.panicked {
			if savepoints {
				if _, err := tx.Exec(`RELEASE op`); err != nil {
					s.abort(tx, group, ok, op, err)
					return
				}
			}
			ok = append(ok, op)
			continue
		}
		// Undo this op alone, and answer it now: nothing of it commits.
		if savepoints {
			if _, err := tx.Exec(`ROLLBACK TO op`); err != nil {
				op.done <- res
				s.abort(tx, group, ok, nil, err)
				return
			}
			if _, err := tx.Exec(`RELEASE op`); err != nil {
				op.done <- res
				s.abort(tx, group, ok, nil, err)
				return
			}
		} else {
			tx.Rollback()
			op.done <- res
			return
		}
		op.done <- res
	}
	err = tx.Commit()
	s.noteWrite()
	for _, op := range ok {
		op.done <- opResult{err: err}
	}
}

// runOp runs op's fn in tx, turning a panic into a result.
func runOp(op *writeOp, tx *sql.Tx) (res opResult) {
	defer func() {
		if v := recover(); v != nil {
			res = opResult{panicked: true, value: v}
		}
	}()
	return opResult{err: op.fn(tx)}
}

// abort rolls back the whole transaction after err, a failure of the
// transaction itself: the ops that ran (ok), the one running (failed, if
// any) and those still queued in group all get err.
func (s *Store) abort(tx *sql.Tx, group, ok []*writeOp, failed *writeOp, err error) {
	tx.Rollback()
	for _, op := range ok {
		op.done <- opResult{err: err}
	}
	if failed != nil {
		failed.done <- opResult{err: err}
	}
	for _, op := range group {
		if op.state.CompareAndSwap(opQueued, opRunning) {
			op.done <- opResult{err: err}
		}
	}
}
