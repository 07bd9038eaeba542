-- Web Push (RFC 8030): each device's push subscription, and the secrets
-- the server makes once and every instance shares (the VAPID key).
-- Conventions as in 00001_init.sql.

-- +goose Up
ALTER TABLE devices ADD COLUMN push_endpoint TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN push_p256dh BLOB;
ALTER TABLE devices ADD COLUMN push_auth BLOB;

CREATE TABLE server_secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    value      BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE server_secrets;

ALTER TABLE devices DROP COLUMN push_auth;
ALTER TABLE devices DROP COLUMN push_p256dh;
ALTER TABLE devices DROP COLUMN push_endpoint;
