package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// runMigrate runs `backchannel migrate args…` with env as the
// environment and returns its standard output.
func runMigrate(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), append([]string{"migrate"}, args...), func(k string) string { return env[k] },
		strings.NewReader(""), &out, &errOut)
	return out.String(), err
}

// migrationStates runs `migrate status --json` and decodes its output.
func migrationStates(t *testing.T, env map[string]string, args ...string) []migration {
	t.Helper()
	out, err := runMigrate(t, env, append([]string{"status", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("migrate status = %v", err)
	}
	var states []migration
	if err := json.Unmarshal([]byte(out), &states); err != nil {
		t.Fatalf("migrate status --json printed %q: %v", out, err)
	}
	if len(states) == 0 {
		t.Fatalf("migrate status listed no migrations")
	}
	return states
}

// checkMigrations reports an error unless every migration's applied
// state is applied.
func checkMigrations(t *testing.T, states []migration, applied bool) {
	t.Helper()
	for _, m := range states {
		if m.Applied != applied || m.AppliedAt.IsZero() == applied {
			t.Errorf("migration %d %s: applied %v at %v, want applied %v", m.Version, m.Name, m.Applied, m.AppliedAt, applied)
		}
	}
}

func TestMigrateSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "backchannel.db")
	db := "sqlite:" + path

	states := migrationStates(t, nil, "--db", db)
	checkMigrations(t, states, false)
	if states[0].Version != 1 || states[0].Name != "00001_init.sql" {
		t.Errorf("first migration = %d %s, want 1 00001_init.sql", states[0].Version, states[0].Name)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("migrate status created the database: Stat = %v", err)
	}
	out, err := runMigrate(t, nil, "status", "--db", db)
	if err != nil || !strings.Contains(out, "VERSION") || !strings.Contains(out, "00001_init.sql") || !strings.Contains(out, "pending") {
		t.Errorf("migrate status = %q, %v, want a table of pending migrations", out, err)
	}

	// BACKCHANNEL_DB names the database when --db does not.
	env := map[string]string{"BACKCHANNEL_DB": db}
	out, err = runMigrate(t, env, "up")
	if err != nil {
		t.Fatalf("migrate up = %v", err)
	}
	for _, m := range states {
		if !strings.Contains(out, "applied "+m.Name) {
			t.Errorf("migrate up printed %q, want it to name %s", out, m.Name)
		}
	}
	checkMigrations(t, migrationStates(t, env), true)
	out, err = runMigrate(t, env, "up")
	if err != nil || strings.TrimSpace(out) != "no pending migrations" {
		t.Errorf("migrate up again = %q, %v, want no pending migrations", out, err)
	}
	out, err = runMigrate(t, env, "status")
	if err != nil || strings.Contains(out, "pending") {
		t.Errorf("migrate status after up = %q, %v, want every migration applied", out, err)
	}

	// Without a db anywhere, the database is the one serve uses in the
	// data directory.
	dataDir := t.TempDir()
	env = map[string]string{"BACKCHANNEL_DATA_DIR": dataDir}
	if _, err := runMigrate(t, env, "up"); err != nil {
		t.Fatalf("migrate up in the data directory = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "backchannel.db")); err != nil {
		t.Errorf("migrate up without --db: %v", err)
	}
}

func TestMigrateBadDB(t *testing.T) {
	for _, args := range [][]string{
		{"status", "--db", "mysql://root:hunter2@db/x"},
		{"up", "--db", "mysql://root:hunter2@db/x"},
		{"frobnicate"},
	} {
		_, err := runMigrate(t, nil, args...)
		if err == nil {
			t.Errorf("migrate %q = nil error, want one", args)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("migrate %q error shows the password: %v", args, err)
		}
	}
}

func TestMigratePostgres(t *testing.T) {
	db := postgresTestSchema(t)
	checkMigrations(t, migrationStates(t, nil, "--db", db), false)
	if _, err := runMigrate(t, nil, "up", "--db", db); err != nil {
		t.Fatalf("migrate up = %v", err)
	}
	checkMigrations(t, migrationStates(t, nil, "--db", db), true)
	out, err := runMigrate(t, nil, "up", "--db", db)
	if err != nil || strings.TrimSpace(out) != "no pending migrations" {
		t.Errorf("migrate up again = %q, %v, want no pending migrations", out, err)
	}

	// serve opens the same database.
	st, err := openStore(t.Context(), db)
	if err != nil {
		t.Fatalf("openStore(postgres) = %v", err)
	}
	defer st.Close()
	if err := st.Ping(t.Context()); err != nil {
		t.Errorf("Ping = %v", err)
	}
	_, err = openStore(t.Context(), "postgres://backchannel:hunter2@127.0.0.1:1/x?sslmode=disable")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("openStore(unreachable) = %v, want an error without the password", err)
	}
}

// postgresTestSchema returns the URL in BACKCHANNEL_TEST_POSTGRES with
// search_path set to a new schema of t's own, dropped with everything in
// it when t ends. Without the variable it skips t, or fails it in CI.
func postgresTestSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("BACKCHANNEL_TEST_POSTGRES")
	switch {
	case base == "" && os.Getenv("CI") != "":
		t.Fatal("BACKCHANNEL_TEST_POSTGRES must be set in CI (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	case base == "":
		t.Skip("BACKCHANNEL_TEST_POSTGRES not set; set it to a PostgreSQL URL " +
			"(e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL tests of the binary")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("BACKCHANNEL_TEST_POSTGRES must be a postgres:// URL for serve --db")
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := pgx.Identifier{"backchannel_test_" + hex.EncodeToString(b)}.Sanitize()
	exec := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
	})
	q := u.Query()
	q.Set("search_path", "backchannel_test_"+hex.EncodeToString(b))
	u.RawQuery = q.Encode()
	return u.String()
}
