-- The audit trail of each request's life. Conventions as in 00001_init.sql.

-- +goose Up
CREATE TABLE audit (
    seq        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    at         INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    request_id TEXT    NOT NULL DEFAULT '',
    client_id  TEXT    NOT NULL DEFAULT '',
    subject    TEXT    NOT NULL DEFAULT '',
    device_id  TEXT    NOT NULL DEFAULT '',
    detail     TEXT
) STRICT;

-- AuditEvents by request, user or client, in order; Purge by age.
CREATE INDEX audit_request ON audit (request_id, at, seq) WHERE request_id <> '';
CREATE INDEX audit_subject ON audit (subject, at, seq) WHERE subject <> '';
CREATE INDEX audit_client ON audit (client_id, at, seq) WHERE client_id <> '';
CREATE INDEX audit_at ON audit (at);

-- Purge: expired requests and tokens, and finished outbound rows.
CREATE INDEX requests_expires_at ON requests (expires_at);
CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX enrolments_expires_at ON enrolments (expires_at);
CREATE INDEX outbox_done_at ON outbox (done_at) WHERE state <> 'queued';

-- +goose Down
DROP INDEX outbox_done_at;
DROP INDEX enrolments_expires_at;
DROP INDEX tokens_expires_at;
DROP INDEX requests_expires_at;
DROP TABLE audit;
