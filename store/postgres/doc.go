// Package postgres is the store.Store backend for PostgreSQL, on pgx and
// pgxpool. It is the database of deployments that run several
// backchannel instances: they share one PostgreSQL.
//
// Every load-decide-save method (UpdateRequest, UpdateToken, UpdateUser,
// UpdateClient, RedeemEnrolment, RotateSigningKey) runs in one
// transaction at READ COMMITTED that first locks the rows it will change,
// so concurrent updates of one record, from one instance or many, run one
// after another and each sees the previous one's result. ClaimOutbound
// skips rows another worker is claiming (FOR UPDATE SKIP LOCKED), so many
// instances drain one outbox without delivering a row twice. UseOnce is
// a single upsert. The statements that run outside an explicit
// transaction (ClaimOutbound, UseOnce, Purge) rely on the server's
// default isolation level being READ COMMITTED, PostgreSQL's own default.
//
// The schema lives in migrations/*.sql, embedded and applied with goose
// when a Store is opened, under a PostgreSQL advisory lock so that
// instances starting together do not race. Tables are created in the
// connection's current schema: set search_path in the URL to keep
// several databases in one.
//
// Bus carries wake-ups between the instances on one database with
// LISTEN/NOTIFY (see wake).
//
// Only cmd/backchannel and tests import this package. It imports store and
// wake (a leaf package of the standard library only) and nothing else
// from this module.
package postgres
