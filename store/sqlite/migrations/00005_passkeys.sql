-- Passkeys (WebAuthn credentials) that enrolled devices register for their
-- user, the one registration challenge a device may have outstanding, and
-- the clients' default_acr_values. Conventions as in 00001_init.sql.

-- +goose Up
ALTER TABLE clients ADD COLUMN default_acr_values TEXT NOT NULL DEFAULT '[]';

CREATE TABLE passkeys (
    id           TEXT    NOT NULL PRIMARY KEY, -- base64url credential ID
    device_id    TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    subject      TEXT    NOT NULL,
    record       TEXT    NOT NULL,              -- the credential record (JSON)
    created_at   INTEGER,
    last_used_at INTEGER
) STRICT;

CREATE INDEX passkeys_device ON passkeys (device_id, created_at);

CREATE TABLE passkey_challenges (
    device_id  TEXT    NOT NULL PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    challenge  BLOB    NOT NULL, -- SHA-256 of the challenge
    expires_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE passkey_challenges;
DROP INDEX passkeys_device;
DROP TABLE passkeys;
ALTER TABLE clients DROP COLUMN default_acr_values;
