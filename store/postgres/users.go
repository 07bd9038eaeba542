package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/backchannel/backchannel/store"
)

const userColumns = `sub, preferred_username, email, phone_number, claims,
	user_code_hash, user_code_failures, created_at`

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	err := row.Scan(&u.Subject, &u.PreferredUsername, &u.Email, &u.PhoneNumber, jsonDest(&u.Claims),
		&u.UserCodeHash, &u.UserCodeFailures, timeDest{&u.CreatedAt})
	return u, check(err)
}

// userArgs are u's values in the order of userColumns.
func userArgs(u store.User) []any {
	return []any{u.Subject, u.PreferredUsername, u.Email, u.PhoneNumber, jsonArg(u.Claims),
		blobArg(u.UserCodeHash), u.UserCodeFailures, timeArg(u.CreatedAt)}
}

// CreateUser adds u. It returns store.ErrConflict if u.Subject exists, or
// if u's preferred_username, email or phone_number is set and another user
// has the same value in the same field.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES (`+params(1, count(userColumns))+`)`, userArgs(u)...)
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Subject, check(err))
	}
	return nil
}

// User returns user sub, or store.ErrNotFound.
func (s *Store) User(ctx context.Context, sub string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE sub = $1`, sub))
	if err != nil {
		return store.User{}, fmt.Errorf("load user %q: %w", sub, err)
	}
	return u, nil
}

// UserByHint returns the user whose subject, preferred_username, email or
// phone_number equals hint exactly (no case folding). It returns
// store.ErrNotFound if none does, or if hint is empty, and
// store.ErrConflict if the hint names two different users (say, one
// user's email is another's subject): a hint must name one user.
func (s *Store) UserByHint(ctx context.Context, hint string) (store.User, error) {
	if hint == "" {
		return store.User{}, fmt.Errorf("find user by hint: %w", store.ErrNotFound)
	}
	// One indexed lookup per field; UNION drops the duplicates when one
	// user matches on several fields. The "<> ''" terms match the partial
	// unique indexes.
	rows, err := s.pool.Query(ctx, `
		SELECT `+userColumns+` FROM users WHERE sub = $1
		UNION SELECT `+userColumns+` FROM users WHERE preferred_username = $1 AND preferred_username <> ''
		UNION SELECT `+userColumns+` FROM users WHERE email = $1 AND email <> ''
		UNION SELECT `+userColumns+` FROM users WHERE phone_number = $1 AND phone_number <> ''
		LIMIT 2`, hint)
	if err != nil {
		return store.User{}, fmt.Errorf("find user by hint: %w", err)
	}
	us, err := collect(rows, scanUser)
	switch {
	case err != nil:
		return store.User{}, fmt.Errorf("find user by hint: %w", err)
	case len(us) == 0:
		return store.User{}, fmt.Errorf("find user by hint: %w", store.ErrNotFound)
	case len(us) > 1:
		return store.User{}, fmt.Errorf("find user by hint: matches users %q and %q: %w",
			us[0].Subject, us[1].Subject, store.ErrConflict)
	}
	return us[0], nil
}

// Users returns every user, ordered by subject.
func (s *Store) Users(ctx context.Context) ([]store.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY sub`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	us, err := collect(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// DeleteUser deletes user sub, or returns store.ErrNotFound. The user's
// devices, requests and tokens stay; callers stop honouring them because
// the user no longer resolves.
func (s *Store) DeleteUser(ctx context.Context, sub string) error {
	if err := execOne(ctx, s.pool, `DELETE FROM users WHERE sub = $1`, sub); err != nil {
		return fmt.Errorf("delete user %q: %w", sub, err)
	}
	return nil
}

// UpdateUser loads user sub, calls change with it and saves the result,
// in one transaction that holds the user's row lock meanwhile. If change
// returns an error, nothing is saved and UpdateUser returns that error,
// unwrapped. change must not alter the subject.
func (s *Store) UpdateUser(ctx context.Context, sub string, change func(*store.User) error) (store.User, error) {
	var u store.User
	var changeErr error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE sub = $1 FOR UPDATE`, sub))
		if err != nil {
			return err
		}
		if changeErr = change(&u); changeErr != nil {
			return changeErr
		}
		if u.Subject != sub {
			return fmt.Errorf("subject changed to %q", u.Subject)
		}
		n := count(userColumns)
		_, err = tx.Exec(ctx, `UPDATE users SET (`+userColumns+`) = (`+params(1, n)+`)
			WHERE sub = $`+fmt.Sprint(n+1), append(userArgs(u), sub)...)
		return check(err)
	})
	switch {
	case changeErr != nil:
		return store.User{}, changeErr
	case err != nil:
		return store.User{}, fmt.Errorf("update user %q: %w", sub, err)
	}
	return u, nil
}
