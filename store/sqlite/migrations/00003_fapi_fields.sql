-- Client metadata for mutual TLS, DPoP, the FAPI-CIBA profile and dynamic
-- registration; authorization_details (RFC 9396) on requests and tokens;
-- sender-constraint thumbprints on tokens. Conventions as in 00001_init.sql.

-- +goose Up
ALTER TABLE clients ADD COLUMN tls_client_auth_san_dns TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_client_auth_san_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_client_auth_san_ip TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_client_auth_san_email TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN certificate_bound_access_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN profile TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN logo_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN software_id TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN registration_access_token_hash BLOB;

ALTER TABLE requests ADD COLUMN authorization_details TEXT;

ALTER TABLE tokens ADD COLUMN authorization_details TEXT;
ALTER TABLE tokens ADD COLUMN jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN x5t_s256 TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tokens DROP COLUMN x5t_s256;
ALTER TABLE tokens DROP COLUMN jkt;
ALTER TABLE tokens DROP COLUMN authorization_details;

ALTER TABLE requests DROP COLUMN authorization_details;

ALTER TABLE clients DROP COLUMN registration_access_token_hash;
ALTER TABLE clients DROP COLUMN software_id;
ALTER TABLE clients DROP COLUMN logo_uri;
ALTER TABLE clients DROP COLUMN profile;
ALTER TABLE clients DROP COLUMN dpop_bound_access_tokens;
ALTER TABLE clients DROP COLUMN certificate_bound_access_tokens;
ALTER TABLE clients DROP COLUMN tls_client_auth_san_email;
ALTER TABLE clients DROP COLUMN tls_client_auth_san_ip;
ALTER TABLE clients DROP COLUMN tls_client_auth_san_uri;
ALTER TABLE clients DROP COLUMN tls_client_auth_san_dns;
