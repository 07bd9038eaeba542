-- The first schema of backchannel's PostgreSQL store: the same records as
-- the SQLite schema after its migration 00004, written for PostgreSQL.
--
-- Conventions (see store/postgres/codec.go):
--   * times are timestamptz (microseconds), NULL for the zero time
--   * durations are bigint nanoseconds
--   * string lists are text[], '{}' when empty
--   * json.RawMessage fields are jsonb, NULL when empty
--   * hashes are bytea, NULL when empty, so that an absent hash never
--     collides with another in a unique index
--   * the keys that lists are ordered by use the "C" collation: byte order,
--     as in SQLite, whatever the database's collation
--   * seq, where a table has it, is the insertion order; it breaks ties
--     between equal times the way SQLite's rowid does

-- +goose Up
CREATE TABLE clients (
    id                              text        COLLATE "C" NOT NULL PRIMARY KEY,
    name                            text        NOT NULL,
    secret_hash                     bytea       CHECK (octet_length(secret_hash) > 0),
    secret                          text        NOT NULL,
    grant_types                     text[]      NOT NULL,
    scope                           text        NOT NULL,
    token_endpoint_auth_method      text        NOT NULL,
    token_endpoint_auth_signing_alg text        NOT NULL,
    jwks                            jsonb,
    jwks_uri                        text        NOT NULL,
    delivery_mode                   text        NOT NULL,
    notification_endpoint           text        NOT NULL,
    request_signing_alg             text        NOT NULL,
    user_code_parameter             boolean     NOT NULL,
    tls_client_auth_subject_dn      text        NOT NULL,
    tls_client_auth_san_dns         text        NOT NULL,
    tls_client_auth_san_uri         text        NOT NULL,
    tls_client_auth_san_ip          text        NOT NULL,
    tls_client_auth_san_email       text        NOT NULL,
    id_token_signed_response_alg    text        NOT NULL,
    certificate_bound_access_tokens boolean     NOT NULL,
    dpop_bound_access_tokens        boolean     NOT NULL,
    profile                         text        NOT NULL,
    logo_uri                        text        NOT NULL,
    software_id                     text        NOT NULL,
    registration_access_token_hash  bytea       CHECK (octet_length(registration_access_token_hash) > 0),
    created_at                      timestamptz
);

CREATE TABLE users (
    sub                text        COLLATE "C" NOT NULL PRIMARY KEY,
    preferred_username text        NOT NULL,
    email              text        NOT NULL,
    phone_number       text        NOT NULL,
    claims             jsonb,
    user_code_hash     bytea       CHECK (octet_length(user_code_hash) > 0),
    user_code_failures integer     NOT NULL,
    created_at         timestamptz
);

-- The hint fields are unique when set, and empty values do not collide.
-- UserByHint repeats the "<> ''" terms so that the planner can use these
-- partial indexes.
CREATE UNIQUE INDEX users_preferred_username ON users (preferred_username) WHERE preferred_username <> '';
CREATE UNIQUE INDEX users_email ON users (email) WHERE email <> '';
CREATE UNIQUE INDEX users_phone_number ON users (phone_number) WHERE phone_number <> '';

CREATE TABLE requests (
    seq                   bigint      GENERATED ALWAYS AS IDENTITY,
    id                    text        NOT NULL PRIMARY KEY,
    auth_req_hash         bytea       UNIQUE CHECK (octet_length(auth_req_hash) > 0),
    client_id             text        NOT NULL,
    subject               text        NOT NULL,
    state                 text        NOT NULL,
    scopes                text[]      NOT NULL,
    acr_values            text[]      NOT NULL,
    binding_message       text        NOT NULL,
    authorization_details jsonb,
    notification_token    text        NOT NULL,
    auth_req_id           text        NOT NULL,
    delivery_mode         text        NOT NULL,
    created_at            timestamptz,
    expires_at            timestamptz,
    poll_interval         bigint      NOT NULL, -- nanoseconds
    next_poll_at          timestamptz,
    decided_at            timestamptz,
    device_id             text        NOT NULL,
    acr                   text        NOT NULL,
    amr                   text[]      NOT NULL,
    decision              text        NOT NULL
);

-- PendingRequests: one user's requests in one state, oldest first.
CREATE INDEX requests_subject_state ON requests (subject, state, created_at);
-- ExpiringRequests: pending ping and push requests by expiry. Expired poll
-- requests stay pending forever, so they are left out of the index; the
-- query repeats the WHERE term so the planner can use it.
CREATE INDEX requests_expiring ON requests (state, expires_at NULLS FIRST, seq)
    WHERE delivery_mode IN ('ping', 'push');

CREATE TABLE tokens (
    hash                  bytea       NOT NULL PRIMARY KEY CHECK (octet_length(hash) > 0),
    kind                  text        NOT NULL,
    client_id             text        NOT NULL,
    subject               text        NOT NULL,
    scopes                text[]      NOT NULL,
    request_id            text        NOT NULL,
    family_id             text        NOT NULL,
    auth_time             timestamptz,
    acr                   text        NOT NULL,
    amr                   text[]      NOT NULL,
    authorization_details jsonb,
    jkt                   text        NOT NULL,
    x5t_s256              text        NOT NULL,
    issued_at             timestamptz,
    expires_at            timestamptz,
    used_at               timestamptz,
    revoked_at            timestamptz
);

-- For revoking every token of a request (RFC 7009, and CIBA Core §10's
-- reuse of an auth_req_id).
CREATE INDEX tokens_request_id ON tokens (request_id);
-- RevokeFamily.
CREATE INDEX tokens_family_id ON tokens (family_id);

CREATE TABLE outbox (
    seq             bigint      GENERATED ALWAYS AS IDENTITY,
    id              text        NOT NULL PRIMARY KEY,
    request_id      text        NOT NULL,
    client_id       text        NOT NULL,
    endpoint        text        NOT NULL,
    token           text        NOT NULL,
    payload         jsonb,
    state           text        NOT NULL CHECK (state IN ('queued', 'delivered', 'failed')),
    attempts        integer     NOT NULL,
    next_attempt_at timestamptz,
    expires_at      timestamptz,
    last_error      text        NOT NULL,
    created_at      timestamptz,
    done_at         timestamptz
);

-- ClaimOutbound: queued rows in the order they are claimed in.
CREATE INDEX outbox_due ON outbox (next_attempt_at NULLS FIRST, created_at NULLS FIRST, seq)
    WHERE state = 'queued';
-- OutboundByRequest.
CREATE INDEX outbox_request_id ON outbox (request_id, created_at, seq);

CREATE TABLE enrolments (
    code_hash  bytea       NOT NULL PRIMARY KEY CHECK (octet_length(code_hash) > 0),
    subject    text        NOT NULL,
    created_at timestamptz,
    expires_at timestamptz
);

CREATE TABLE devices (
    seq        bigint      GENERATED ALWAYS AS IDENTITY,
    id         text        NOT NULL PRIMARY KEY,
    subject    text        NOT NULL,
    name       text        NOT NULL,
    public_key jsonb,
    created_at timestamptz,
    revoked_at timestamptz
);

CREATE INDEX devices_subject ON devices (subject, created_at, seq);

CREATE TABLE signing_keys (
    seq         bigint      GENERATED ALWAYS AS IDENTITY,
    id          text        NOT NULL PRIMARY KEY,
    alg         text        NOT NULL,
    private_jwk jsonb,
    created_at  timestamptz,
    retired_at  timestamptz
);

-- At most one active key per alg.
CREATE UNIQUE INDEX signing_keys_active_alg ON signing_keys (alg) WHERE retired_at IS NULL;

-- Single-use values (UseOnce). A row whose expires_at has passed may be
-- replaced, and expired rows are also swept in small batches by UseOnce.
CREATE TABLE used_once (
    id         text        NOT NULL PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

CREATE INDEX used_once_expires_at ON used_once (expires_at);

-- The audit trail of each request's life.
CREATE TABLE audit (
    seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         text        NOT NULL UNIQUE,
    at         timestamptz NOT NULL,
    kind       text        NOT NULL,
    request_id text        NOT NULL,
    client_id  text        NOT NULL,
    subject    text        NOT NULL,
    device_id  text        NOT NULL,
    detail     jsonb
);

-- AuditEvents by request, user or client, in order; Purge by age.
CREATE INDEX audit_request ON audit (request_id, at, seq) WHERE request_id <> '';
CREATE INDEX audit_subject ON audit (subject, at, seq) WHERE subject <> '';
CREATE INDEX audit_client ON audit (client_id, at, seq) WHERE client_id <> '';
CREATE INDEX audit_at ON audit (at, seq);

-- Purge: expired requests, tokens and enrolments, and finished outbound
-- rows.
CREATE INDEX requests_expires_at ON requests (expires_at);
CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX enrolments_expires_at ON enrolments (expires_at);
CREATE INDEX outbox_done_at ON outbox (done_at) WHERE state <> 'queued';

-- +goose Down
DROP TABLE audit;
DROP TABLE used_once;
DROP TABLE signing_keys;
DROP TABLE devices;
DROP TABLE enrolments;
DROP TABLE outbox;
DROP TABLE tokens;
DROP TABLE requests;
DROP TABLE users;
DROP TABLE clients;
