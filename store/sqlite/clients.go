package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/backchannel/backchannel/store"
)

const clientColumns = `id, name, secret_hash, secret, grant_types, scope,
	token_endpoint_auth_method, token_endpoint_auth_signing_alg, jwks, jwks_uri,
	delivery_mode, notification_endpoint, request_signing_alg, user_code_parameter,
	tls_client_auth_subject_dn, id_token_signed_response_alg, created_at,
	tls_client_auth_san_dns, tls_client_auth_san_uri, tls_client_auth_san_ip, tls_client_auth_san_email,
	certificate_bound_access_tokens, dpop_bound_access_tokens, profile, logo_uri, software_id,
	registration_access_token_hash, default_acr_values`

// clientPlaceholders has one ? for each of clientColumns.
var clientPlaceholders = strings.TrimSuffix(strings.Repeat("?, ", strings.Count(clientColumns, ",")+1), ", ")

func scanClient(row scanner) (store.Client, error) {
	var c store.Client
	err := row.Scan(&c.ID, &c.Name, blobDest{&c.SecretHash}, &c.Secret, listDest{&c.GrantTypes}, &c.Scope,
		&c.TokenEndpointAuthMethod, &c.TokenEndpointAuthSigningAlg, jsonDest{&c.JWKS}, &c.JWKSURI,
		&c.DeliveryMode, &c.NotificationEndpoint, &c.RequestSigningAlg, &c.UserCodeParameter,
		&c.TLSClientAuthSubjectDN, &c.IDTokenSignedResponseAlg, timeDest{&c.CreatedAt},
		&c.TLSClientAuthSANDNS, &c.TLSClientAuthSANURI, &c.TLSClientAuthSANIP, &c.TLSClientAuthSANEmail,
		&c.CertificateBoundAccessTokens, &c.DPoPBoundAccessTokens, &c.Profile, &c.LogoURI, &c.SoftwareID,
		blobDest{&c.RegistrationAccessTokenHash}, listDest{&c.DefaultACRValues})
	return c, check(err)
}

// CreateClient adds c. It returns store.ErrConflict if c.ID exists.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO clients (`+clientColumns+`)
		VALUES (`+clientPlaceholders+`)`,
		clientArgs(c)...)
	s.clients.drop(c.ID)
	if err != nil {
		return fmt.Errorf("create client %q: %w", c.ID, check(err))
	}
	return nil
}

// clientArgs are c's values in the order of clientColumns.
func clientArgs(c store.Client) []any {
	return []any{c.ID, c.Name, blobArg(c.SecretHash), c.Secret, listArg(c.GrantTypes), c.Scope,
		c.TokenEndpointAuthMethod, c.TokenEndpointAuthSigningAlg, jsonArg(c.JWKS), c.JWKSURI,
		c.DeliveryMode, c.NotificationEndpoint, c.RequestSigningAlg, c.UserCodeParameter,
		c.TLSClientAuthSubjectDN, c.IDTokenSignedResponseAlg, timeArg(c.CreatedAt),
		c.TLSClientAuthSANDNS, c.TLSClientAuthSANURI, c.TLSClientAuthSANIP, c.TLSClientAuthSANEmail,
		c.CertificateBoundAccessTokens, c.DPoPBoundAccessTokens, c.Profile, c.LogoURI, c.SoftwareID,
		blobArg(c.RegistrationAccessTokenHash), listArg(c.DefaultACRValues)}
}

// UpdateClient loads client id, calls change with it and saves the
// result in one transaction. An error from change is returned as it is
// and nothing is saved.
func (s *Store) UpdateClient(ctx context.Context, id string, change func(*store.Client) error) (store.Client, error) {
	var c store.Client
	var changeErr error
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanClient(tx.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = ?`, id))
		if err != nil {
			return err
		}
		if changeErr = change(&c); changeErr != nil {
			return changeErr
		}
		if c.ID != id {
			return fmt.Errorf("client id changed to %q", c.ID)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id); err != nil {
			return check(err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO clients (`+clientColumns+`)
			VALUES (`+clientPlaceholders+`)`, clientArgs(c)...)
		return check(err)
	})
	s.clients.drop(id)
	switch {
	case changeErr != nil:
		return store.Client{}, changeErr
	case err != nil:
		return store.Client{}, fmt.Errorf("update client %q: %w", id, err)
	}
	return c, nil
}

// Client returns client id, or store.ErrNotFound.
// Recent reads are served from memory (clientcache.go).
func (s *Store) Client(ctx context.Context, id string) (store.Client, error) {
	if c, ok := s.clients.get(id, time.Now()); ok {
		return c, nil
	}
	gen, read := s.clients.generation(), time.Now()
	c, err := scanClient(s.r.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = ?`, id))
	if err != nil {
		return store.Client{}, fmt.Errorf("load client %q: %w", id, err)
	}
	s.clients.put(c, gen, read)
	return c, nil
}

// Clients returns every client, ordered by ID.
func (s *Store) Clients(ctx context.Context) ([]store.Client, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	cs, err := collect(rows, scanClient)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return cs, nil
}

// DeleteClient deletes client id, or returns store.ErrNotFound. Its
// requests and tokens stay; callers stop honouring them because the
// client no longer authenticates.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	err := execOne(ctx, s.w, `DELETE FROM clients WHERE id = ?`, id)
	s.clients.drop(id)
	if err != nil {
		return fmt.Errorf("delete client %q: %w", id, err)
	}
	return nil
}
