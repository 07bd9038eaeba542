package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backchannel/backchannel/store"
)

const tokenColumns = `hash, kind, client_id, subject, scopes, request_id, family_id,
	auth_time, acr, amr, issued_at, expires_at, used_at, revoked_at,
	authorization_details, jkt, x5t_s256`

func scanToken(row pgx.Row) (store.Token, error) {
	var t store.Token
	err := row.Scan(&t.Hash, &t.Kind, &t.ClientID, &t.Subject, &t.Scopes,
		&t.RequestID, &t.FamilyID, timeDest{&t.AuthTime}, &t.ACR, &t.AMR,
		timeDest{&t.IssuedAt}, timeDest{&t.ExpiresAt}, timeDest{&t.UsedAt}, timeDest{&t.RevokedAt},
		jsonDest(&t.AuthorizationDetails), &t.JKT, &t.X5TS256)
	emptyToNil(&t.Scopes)
	emptyToNil(&t.AMR)
	return t, check(err)
}

// tokenArgs are t's values in the order of tokenColumns.
func tokenArgs(t store.Token) []any {
	return []any{t.Hash, t.Kind, t.ClientID, t.Subject, listArg(t.Scopes), t.RequestID, t.FamilyID,
		timeArg(t.AuthTime), t.ACR, listArg(t.AMR),
		timeArg(t.IssuedAt), timeArg(t.ExpiresAt), timeArg(t.UsedAt), timeArg(t.RevokedAt),
		jsonArg(t.AuthorizationDetails), t.JKT, t.X5TS256}
}

// queueToken adds the insert of t to b.
func queueToken(b *pgx.Batch, t store.Token) error {
	if len(t.Hash) == 0 {
		return errors.New("create token: empty hash")
	}
	queue(b, func(err error) error { return fmt.Errorf("create token: %w", err) },
		`INSERT INTO tokens (`+tokenColumns+`) VALUES (`+params(1, count(tokenColumns))+`)`, tokenArgs(t)...)
	return nil
}

// Token returns the token whose Hash is hash, or store.ErrNotFound.
func (s *Store) Token(ctx context.Context, hash []byte) (store.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, hash))
	if err != nil {
		return store.Token{}, fmt.Errorf("load token: %w", err)
	}
	return t, nil
}

// UpdateToken loads the token whose Hash is hash, calls decide with it
// and, if decide returns nil, saves every field of the token but its Hash
// and creates the effects, all in one transaction that holds the token's
// row lock from the load on. If decide returns an error, nothing is saved
// and UpdateToken returns the token as decide left it with that error,
// unwrapped. If saving fails, nothing is saved. decide is called at most
// once.
func (s *Store) UpdateToken(ctx context.Context, hash []byte, decide func(*store.Token) (store.Effects, error)) (store.Token, error) {
	var t store.Token
	var decideErr error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1 FOR UPDATE`, hash))
		if err != nil {
			return err
		}
		var fx store.Effects
		if fx, decideErr = decide(&t); decideErr != nil {
			return decideErr
		}
		if !bytes.Equal(t.Hash, hash) {
			return errors.New("token hash changed")
		}
		n := count(tokenColumns)
		b := &pgx.Batch{}
		queue(b, func(err error) error { return err }, `UPDATE tokens SET (`+tokenColumns+`) = (`+params(1, n)+`)
			WHERE hash = $`+fmt.Sprint(n+1), append(tokenArgs(t), hash)...)
		return saveWithEffects(ctx, tx, b, fx)
	})
	switch {
	case decideErr != nil:
		return t, decideErr
	case err != nil:
		return store.Token{}, fmt.Errorf("update token: %w", err)
	}
	return t, nil
}

// RevokeFamily sets RevokedAt to at on the tokens of family familyID that
// are not revoked yet. An empty familyID names no family and changes
// nothing.
func (s *Store) RevokeFamily(ctx context.Context, familyID string, at time.Time) error {
	if familyID == "" {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE tokens SET revoked_at = $1
		WHERE family_id = $2 AND revoked_at IS NULL`, timeArg(at), familyID)
	if err != nil {
		return fmt.Errorf("revoke token family %q: %w", familyID, check(err))
	}
	return nil
}
