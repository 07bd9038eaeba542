-- The first schema of backchannel's embedded store.
--
-- Conventions (see store/sqlite/codec.go):
--   * times are Unix nanoseconds in INTEGER columns, NULL for the zero time
--   * durations are nanoseconds
--   * string lists are JSON arrays in TEXT columns, '[]' when empty
--   * json.RawMessage fields are TEXT, NULL when empty
--   * hashes are BLOBs, NULL when empty

-- +goose Up
CREATE TABLE clients (
    id                              TEXT    NOT NULL PRIMARY KEY,
    name                            TEXT    NOT NULL,
    secret_hash                     BLOB,
    secret                          TEXT    NOT NULL,
    grant_types                     TEXT    NOT NULL,
    scope                           TEXT    NOT NULL,
    token_endpoint_auth_method      TEXT    NOT NULL,
    token_endpoint_auth_signing_alg TEXT    NOT NULL,
    jwks                            TEXT,
    jwks_uri                        TEXT    NOT NULL,
    delivery_mode                   TEXT    NOT NULL,
    notification_endpoint           TEXT    NOT NULL,
    request_signing_alg             TEXT    NOT NULL,
    user_code_parameter             INTEGER NOT NULL CHECK (user_code_parameter IN (0, 1)),
    tls_client_auth_subject_dn      TEXT    NOT NULL,
    id_token_signed_response_alg    TEXT    NOT NULL,
    created_at                      INTEGER
) STRICT;

CREATE TABLE users (
    sub                TEXT    NOT NULL PRIMARY KEY,
    preferred_username TEXT    NOT NULL,
    email              TEXT    NOT NULL,
    phone_number       TEXT    NOT NULL,
    claims             TEXT,
    user_code_hash     BLOB,
    user_code_failures INTEGER NOT NULL,
    created_at         INTEGER
) STRICT;

-- The hint fields are unique when set, and empty values do not collide. Lookups
-- repeat the "<> ''" term so that the planner can use these partial indexes.
CREATE UNIQUE INDEX users_preferred_username ON users (preferred_username) WHERE preferred_username <> '';
CREATE UNIQUE INDEX users_email ON users (email) WHERE email <> '';
CREATE UNIQUE INDEX users_phone_number ON users (phone_number) WHERE phone_number <> '';

CREATE TABLE requests (
    id                      TEXT    NOT NULL PRIMARY KEY,
    auth_req_hash           BLOB,
    client_id               TEXT    NOT NULL,
    subject                 TEXT    NOT NULL,
    state                   TEXT    NOT NULL,
    scopes                  TEXT    NOT NULL,
    acr_values              TEXT    NOT NULL,
    binding_message         TEXT    NOT NULL,
    notification_token_hash BLOB,
    delivery_mode           TEXT    NOT NULL,
    created_at              INTEGER,
    expires_at              INTEGER,
    poll_interval           INTEGER NOT NULL,
    next_poll_at            INTEGER,
    decided_at              INTEGER,
    device_id               TEXT    NOT NULL,
    acr                     TEXT    NOT NULL,
    amr                     TEXT    NOT NULL,
    decision                TEXT    NOT NULL
) STRICT;

CREATE UNIQUE INDEX requests_auth_req_hash ON requests (auth_req_hash);
-- PendingRequests: one user's requests in one state, oldest first.
CREATE INDEX requests_subject_state ON requests (subject, state, created_at);

CREATE TABLE tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,
    request_id TEXT    NOT NULL,
    issued_at  INTEGER,
    expires_at INTEGER
) STRICT, WITHOUT ROWID;

-- For revoking every token of a request (RFC 7009, and CIBA Core §10's
-- reuse of an auth_req_id).
CREATE INDEX tokens_request_id ON tokens (request_id);

CREATE TABLE enrolments (
    code_hash  BLOB    NOT NULL PRIMARY KEY,
    subject    TEXT    NOT NULL,
    created_at INTEGER,
    expires_at INTEGER
) STRICT, WITHOUT ROWID;

CREATE TABLE devices (
    id         TEXT    NOT NULL PRIMARY KEY,
    subject    TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    public_key TEXT,
    created_at INTEGER,
    revoked_at INTEGER
) STRICT;

CREATE INDEX devices_subject ON devices (subject, created_at);

CREATE TABLE signing_keys (
    id          TEXT    NOT NULL PRIMARY KEY,
    alg         TEXT    NOT NULL,
    private_jwk TEXT,
    created_at  INTEGER,
    retired_at  INTEGER
) STRICT;

-- At most one active key per alg.
CREATE UNIQUE INDEX signing_keys_active_alg ON signing_keys (alg) WHERE retired_at IS NULL;
CREATE INDEX signing_keys_created_at ON signing_keys (created_at);

-- Single-use values (UseOnce). A row whose expires_at has passed may be
-- replaced, and expired rows are also swept in small batches by UseOnce.
CREATE TABLE used_once (
    id         TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX used_once_expires_at ON used_once (expires_at);

-- +goose Down
DROP TABLE used_once;
DROP TABLE signing_keys;
DROP TABLE devices;
DROP TABLE enrolments;
DROP TABLE tokens;
DROP TABLE requests;
DROP TABLE users;
DROP TABLE clients;
