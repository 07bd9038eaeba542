-- Ping and push delivery through a transactional outbox, and refresh-token
-- families. Conventions as in 00001_init.sql.

-- +goose Up

-- The notification must present the client_notification_token itself
-- (CIBA Core §10.2), so its hash is of no use: the column is dropped, not
-- converted. A ping or push request still pending when this runs cannot be
-- notified; it expires within minutes like any other.
ALTER TABLE requests DROP COLUMN notification_token_hash;
ALTER TABLE requests ADD COLUMN notification_token TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN auth_req_id TEXT NOT NULL DEFAULT '';

-- ExpiringRequests: pending ping and push requests by expiry. Expired poll
-- requests stay pending forever, so they are left out of the index; the
-- query repeats the WHERE term so the planner can use it.
CREATE INDEX requests_expiring ON requests (state, expires_at)
    WHERE delivery_mode IN ('ping', 'push');

ALTER TABLE tokens ADD COLUMN family_id TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN auth_time INTEGER;
ALTER TABLE tokens ADD COLUMN acr TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN amr TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tokens ADD COLUMN used_at INTEGER;
ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;

-- Tokens issued before families existed came one grant per request: the
-- request is their family, and its decision their authentication.
UPDATE tokens SET
    family_id = request_id,
    auth_time = (SELECT decided_at FROM requests WHERE requests.id = tokens.request_id),
    acr = coalesce((SELECT acr FROM requests WHERE requests.id = tokens.request_id), ''),
    amr = coalesce((SELECT amr FROM requests WHERE requests.id = tokens.request_id), '[]');

-- RevokeFamily.
CREATE INDEX tokens_family_id ON tokens (family_id);

CREATE TABLE outbox (
    id              TEXT    NOT NULL PRIMARY KEY,
    request_id      TEXT    NOT NULL,
    client_id       TEXT    NOT NULL,
    endpoint        TEXT    NOT NULL,
    token           TEXT    NOT NULL,
    payload         TEXT,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER,
    expires_at      INTEGER,
    last_error      TEXT    NOT NULL,
    created_at      INTEGER,
    done_at         INTEGER
) STRICT;

-- ClaimOutbound: due queued rows, longest due first.
CREATE INDEX outbox_state_next_attempt_at ON outbox (state, next_attempt_at);
-- OutboundByRequest.
CREATE INDEX outbox_request_id ON outbox (request_id, created_at);

-- +goose Down
DROP TABLE outbox;

DROP INDEX tokens_family_id;
ALTER TABLE tokens DROP COLUMN revoked_at;
ALTER TABLE tokens DROP COLUMN used_at;
ALTER TABLE tokens DROP COLUMN amr;
ALTER TABLE tokens DROP COLUMN acr;
ALTER TABLE tokens DROP COLUMN auth_time;
ALTER TABLE tokens DROP COLUMN family_id;

DROP INDEX requests_expiring;
ALTER TABLE requests DROP COLUMN auth_req_id;
ALTER TABLE requests DROP COLUMN notification_token;
ALTER TABLE requests ADD COLUMN notification_token_hash BLOB;
