-- Web Push (RFC 8030): each device's push subscription, and the secrets
-- the server makes once and every instance shares (the VAPID key).
-- Conventions as in 00001_init.sql.

-- +goose Up
ALTER TABLE devices ADD COLUMN push_endpoint text NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN push_p256dh bytea;
ALTER TABLE devices ADD COLUMN push_auth bytea;

CREATE TABLE server_secrets (
    name       text        COLLATE "C" NOT NULL PRIMARY KEY,
    value      bytea       NOT NULL,
    created_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE server_secrets;

ALTER TABLE devices DROP COLUMN push_auth;
ALTER TABLE devices DROP COLUMN push_p256dh;
ALTER TABLE devices DROP COLUMN push_endpoint;
