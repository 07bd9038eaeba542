// Package sqlite is the embedded store.Store backend, on modernc.org/sqlite
// (pure Go, so the binary stays static). It is backchannel's default
// database and the one tests use.
//
// The database runs in WAL mode. SQLite allows one writer at a time, so a
// Store keeps two connection pools: one connection that performs every
// write, each in a BEGIN IMMEDIATE transaction, and several read-only
// connections. Writers queue for the write connection in Go, honouring
// their contexts, instead of failing with SQLITE_BUSY; this is what makes
// the load-decide-save methods (UpdateRequest, UpdateToken, UpdateUser,
// RedeemEnrolment, RotateSigningKey, UseOnce, ClaimOutbound) atomic.
// One writer goroutine runs them, and commits the transactions that
// queued while it was busy together, each in a savepoint of its own
// (group commit, groupcommit.go): a commit's WAL frames are shared by
// the group, and each transaction still succeeds or fails alone.
//
// The schema lives in migrations/*.sql, embedded and applied with goose
// when the database is opened.
//
// Only cmd/backchannel and tests import this package. It imports store and
// nothing else from this module.
package sqlite
