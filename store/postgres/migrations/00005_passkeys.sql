-- Passkeys (WebAuthn credentials) that enrolled devices register for their
-- user, the one registration challenge a device may have outstanding, and
-- the clients' default_acr_values: SQLite's migration 00005 for
-- PostgreSQL. Conventions as in 00001_init.sql.

-- +goose Up
ALTER TABLE clients ADD COLUMN default_acr_values text[] NOT NULL DEFAULT '{}';

CREATE TABLE passkeys (
    id           text        NOT NULL PRIMARY KEY, -- base64url credential ID
    device_id    text        NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    subject      text        NOT NULL,
    record       jsonb       NOT NULL,              -- the credential record
    created_at   timestamptz,
    last_used_at timestamptz
);

CREATE INDEX passkeys_device ON passkeys (device_id, created_at);

CREATE TABLE passkey_challenges (
    device_id  text        NOT NULL PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    challenge  bytea       NOT NULL, -- SHA-256 of the challenge
    expires_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE passkey_challenges;
DROP TABLE passkeys;
ALTER TABLE clients DROP COLUMN default_acr_values;
