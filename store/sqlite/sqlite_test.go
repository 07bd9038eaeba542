package sqlite_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/store/sqlite"
	"github.com/backchannel/backchannel/store/storetest"
)

func open(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "backchannel.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func TestOpenCreatesDirectoryAndKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b?#c", "backchannel.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%q) = %v", path, err)
	}
	if err := s.CreateUser(t.Context(), store.User{Subject: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("database file: %v", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("database file mode = %v, want 0600", fi.Mode().Perm())
	}

	// Opening again finds the data and applies no migration twice.
	s, err = sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%q) again = %v", path, err)
	}
	defer s.Close()
	if _, err := s.User(t.Context(), "alice"); err != nil {
		t.Errorf("User(alice) after reopening = %v", err)
	}
}

// TestTwoStoresOneFile checks that two Stores on one file (two processes,
// say) serialize their load-decide-save updates through SQLite's lock.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backchannel.db")
	var ss [2]*sqlite.Store
	for i := range ss {
		s, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ss[i] = s
	}
	ctx := t.Context()
	if err := ss[0].CreateUser(ctx, store.User{Subject: "alice"}); err != nil {
		t.Fatal(err)
	}
	const n = 10
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	for i := range 2 * n {
		wg.Go(func() {
			_, errs[i] = ss[i%2].UpdateUser(ctx, "alice", func(u *store.User) error {
				u.UserCodeFailures++
				return nil
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	u, err := ss[1].User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.UserCodeFailures != 2*n {
		t.Errorf("UserCodeFailures = %d, want %d", u.UserCodeFailures, 2*n)
	}
}

func TestTimeOutOfRange(t *testing.T) {
	s := open(t)
	defer s.Close()
	err := s.CreateClient(t.Context(), store.Client{ID: "a", CreatedAt: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err == nil || errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateClient(time in 2300) = %v, want an out-of-range error", err)
	}
}

// TestQueryPlans checks that lookups use the indexes.
func TestQueryPlans(t *testing.T) {
	s := open(t)
	defer s.Close()
	tests := []struct {
		query string
		args  []any
		want  []string // each must appear in the plan
	}{
		{`SELECT * FROM users WHERE sub = ?1
			UNION SELECT * FROM users WHERE preferred_username = ?1 AND preferred_username <> ''
			UNION SELECT * FROM users WHERE email = ?1 AND email <> ''
			UNION SELECT * FROM users WHERE phone_number = ?1 AND phone_number <> ''`, []any{"x"},
			[]string{"sqlite_autoindex_users_1", "users_preferred_username", "users_email", "users_phone_number"}},
		{`SELECT * FROM requests WHERE auth_req_hash = ?`, []any{"x"}, []string{"requests_auth_req_hash"}},
		{`SELECT * FROM requests WHERE subject = ? AND state = ? AND expires_at > ? ORDER BY created_at, rowid`, []any{"a", "b", 1},
			[]string{"requests_subject_state"}},
		{`SELECT * FROM tokens WHERE hash = ?`, []any{"x"}, []string{"PRIMARY KEY"}},
		{`SELECT * FROM devices WHERE subject = ? ORDER BY created_at, rowid`, []any{"a"}, []string{"devices_subject"}},
		{`UPDATE signing_keys SET retired_at = 1 WHERE alg = ? AND retired_at IS NULL`, []any{"a"}, []string{"signing_keys_active_alg"}},
		{`SELECT * FROM requests WHERE state = ? AND delivery_mode IN ('ping', 'push')
			AND (expires_at IS NULL OR expires_at <= ?) ORDER BY expires_at, rowid LIMIT ?`, []any{"pending", 1, 10},
			[]string{"requests_expiring"}},
		{`UPDATE tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL`, []any{1, "f"}, []string{"tokens_family_id"}},
		{`SELECT rowid FROM outbox WHERE state = ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
			ORDER BY next_attempt_at, created_at, rowid LIMIT ?`, []any{"queued", 1, 10},
			[]string{"outbox_state_next_attempt_at"}},
		{`SELECT * FROM outbox WHERE request_id = ? ORDER BY created_at, rowid`, []any{"r"}, []string{"outbox_request_id"}},
	}
	for _, tt := range tests {
		plan := sqlite.ExplainQueryPlan(t, s, tt.query, tt.args...)
		for _, w := range tt.want {
			if !strings.Contains(plan, w) {
				t.Errorf("plan of %q =\n%s\nwant it to use %s", tt.query, plan, w)
			}
		}
	}
}

func request(i int) store.Request {
	id := fmt.Sprint("request-", i)
	h := sha256.Sum256([]byte(id))
	now := time.Now().UTC()
	return store.Request{
		ID:           id,
		AuthReqHash:  h[:],
		ClientID:     "client",
		Subject:      "alice",
		State:        store.Pending,
		Scopes:       []string{"openid", "profile"},
		Binding:      "Pay 42 EUR",
		DeliveryMode: store.Poll,
		CreatedAt:    now,
		ExpiresAt:    now.Add(5 * time.Minute),
		Interval:     5 * time.Second,
		NextPollAt:   now.Add(5 * time.Second),
	}
}

func BenchmarkCreateRequest(b *testing.B) {
	s := open(b)
	defer s.Close()
	ctx := b.Context()
	i := 0
	for b.Loop() {
		if err := s.CreateRequest(ctx, request(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkUpdateRequest(b *testing.B) {
	s := open(b)
	defer s.Close()
	ctx := b.Context()
	r := request(0)
	if err := s.CreateRequest(ctx, r); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_, err := s.UpdateRequest(ctx, r.ID, func(r *store.Request) (store.Effects, error) {
			r.NextPollAt = r.NextPollAt.Add(r.Interval)
			return store.Effects{}, nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRequestByAuthReqHash(b *testing.B) {
	s := open(b)
	defer s.Close()
	ctx := b.Context()
	const n = 1000
	for i := range n {
		if err := s.CreateRequest(ctx, request(i)); err != nil {
			b.Fatal(err)
		}
	}
	hashes := make([][]byte, n)
	for i := range n {
		hashes[i] = request(i).AuthReqHash
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.RequestByAuthReqHash(ctx, hashes[i%n]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func TestPragmas(t *testing.T) {
	s := open(t)
	defer s.Close()
	write, read := sqlite.Pragmas(t, s, "journal_mode", "foreign_keys", "synchronous", "busy_timeout", "query_only", "temp_store", "wal_autocheckpoint")
	wantWrite := map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "1", "busy_timeout": "10000", "query_only": "0", "temp_store": "2", "wal_autocheckpoint": "16384"}
	wantRead := map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "1", "busy_timeout": "10000", "query_only": "1", "temp_store": "0", "wal_autocheckpoint": "1000"}
	if d := cmp.Diff(wantWrite, write); d != "" {
		t.Errorf("write connection pragmas (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantRead, read); d != "" {
		t.Errorf("read connection pragmas (-want +got):\n%s", d)
	}
}

// TestMigrateOutbox checks that migration 00002 keeps the data of a
// database created before it, and gives old tokens a family.
func TestMigrateOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backchannel.db")
	db := sqlite.CreateAtVersion(t, path, 1)
	for _, q := range []string{
		`INSERT INTO requests (id, auth_req_hash, client_id, subject, state, scopes, acr_values,
			binding_message, notification_token_hash, delivery_mode, created_at, expires_at,
			poll_interval, next_poll_at, decided_at, device_id, acr, amr, decision)
		VALUES ('r1', x'01', 'c', 'alice', 'redeemed', '["openid"]', '[]', 'Pay', x'02', 'ping',
			1000, 2000, 5000000000, 1500, 1700, 'd', 'urn:acr:high', '["hwk","face"]', 'jws')`,
		`INSERT INTO tokens (hash, kind, client_id, subject, scopes, request_id, issued_at, expires_at)
		VALUES (x'0a', 'refresh_token', 'c', 'alice', '["openid"]', 'r1', 1800, 9000)`,
		`INSERT INTO tokens (hash, kind, client_id, subject, scopes, request_id, issued_at, expires_at)
		VALUES (x'0b', 'access_token', 'c', 'alice', '[]', 'gone', 1800, 9000)`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(version 1 database) = %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	r, err := s.Request(ctx, "r1")
	if err != nil {
		t.Fatalf(`Request("r1") = %v`, err)
	}
	wantReq := store.Request{ID: "r1", AuthReqHash: []byte{1}, ClientID: "c", Subject: "alice", State: store.Redeemed,
		Scopes: []string{"openid"}, Binding: "Pay", DeliveryMode: store.Ping,
		CreatedAt: time.Unix(0, 1000).UTC(), ExpiresAt: time.Unix(0, 2000).UTC(), Interval: 5 * time.Second,
		NextPollAt: time.Unix(0, 1500).UTC(), DecidedAt: time.Unix(0, 1700).UTC(), DeviceID: "d",
		ACR: "urn:acr:high", AMR: []string{"hwk", "face"}, Decision: "jws"}
	if d := cmp.Diff(wantReq, r); d != "" {
		t.Errorf(`Request("r1") after migrating (-want +got):\n%s`, d)
	}
	wantTokens := []store.Token{
		{Hash: []byte{0x0a}, Kind: store.RefreshToken, ClientID: "c", Subject: "alice", Scopes: []string{"openid"},
			RequestID: "r1", FamilyID: "r1", AuthTime: time.Unix(0, 1700).UTC(), ACR: "urn:acr:high",
			AMR: []string{"hwk", "face"}, IssuedAt: time.Unix(0, 1800).UTC(), ExpiresAt: time.Unix(0, 9000).UTC()},
		// The request of this one was deleted: it keeps a family of its
		// own but has no authentication.
		{Hash: []byte{0x0b}, Kind: store.AccessToken, ClientID: "c", Subject: "alice",
			RequestID: "gone", FamilyID: "gone", IssuedAt: time.Unix(0, 1800).UTC(), ExpiresAt: time.Unix(0, 9000).UTC()},
	}
	for _, want := range wantTokens {
		got, err := s.Token(ctx, want.Hash)
		if err != nil {
			t.Fatalf("Token(%x) = %v", want.Hash, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Token(%x) after migrating (-want +got):\n%s", want.Hash, d)
		}
	}
	if err := s.RevokeFamily(ctx, "r1", time.Unix(0, 5000)); err != nil {
		t.Fatal(err)
	}
	if tok, err := s.Token(ctx, []byte{0x0a}); err != nil || tok.RevokedAt.IsZero() {
		t.Errorf("migrated token after RevokeFamily = %+v, %v, want it revoked", tok, err)
	}
}

// TestMigrateDownAndUp checks that migration 00002 can be rolled back and
// applied again.
func TestMigrateDownAndUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backchannel.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRequest(t.Context(), request(1)); err != nil {
		t.Fatal(err)
	}
	sqlite.MigrateDown(t, s, 1)
	s.Close()

	s, err = sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open after rolling back = %v", err)
	}
	defer s.Close()
	if _, err := s.Request(t.Context(), request(1).ID); err != nil {
		t.Errorf("Request after rolling back and migrating again = %v", err)
	}
	if _, err := s.OutboundByRequest(t.Context(), request(1).ID); err != nil {
		t.Errorf("OutboundByRequest after rolling back and migrating again = %v", err)
	}
}

// TestOutboundStateChecked checks that the schema refuses an outbound row
// in no known state, which no worker would ever deliver.
func TestOutboundStateChecked(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := t.Context()
	r := request(1)
	if err := s.CreateRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	_, err := s.UpdateRequest(ctx, r.ID, func(r *store.Request) (store.Effects, error) {
		r.State = store.Approved
		return store.Effects{Outbound: []store.Outbound{{ID: "o1", RequestID: r.ID}}}, nil
	})
	if err == nil {
		t.Fatalf("UpdateRequest queuing a row without a state = nil error, want one")
	}
	if got, err := s.Request(ctx, r.ID); err != nil || got.State != store.Pending {
		t.Errorf("Request after the failed update = %q, %v, want %q", got.State, err, store.Pending)
	}
	if _, err := s.Outbound(ctx, "o1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf(`Outbound("o1") = %v, want %v`, err, store.ErrNotFound)
	}
}

// TestBackgroundCheckpoint checks that committed writes reach the
// database file itself, not only the write-ahead log, without the
// writer's automatic checkpoint (set far above what this test writes):
// a copy of the file alone, without its log, holds them.
func TestBackgroundCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.Open(t.Context(), filepath.Join(dir, "backchannel.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 20
	for i := range n {
		r := store.Request{ID: fmt.Sprintf("r%d", i), AuthReqHash: []byte{byte(i)}, ClientID: "c", Subject: "alice",
			State: store.Pending, DeliveryMode: store.Poll, Interval: 5 * time.Second}
		ev := store.AuditEvent{ID: fmt.Sprintf("e%d", i), At: time.Now(), Kind: "test", RequestID: r.ID}
		if err := s.CreateRequest(t.Context(), r, store.Effects{Audit: []store.AuditEvent{ev}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := requestsInFileAlone(t, filepath.Join(dir, "backchannel.db"))
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database file without its log holds %d requests 10s after the writes, want %d", got, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// requestsInFileAlone counts the requests in a copy of the database file
// at path, without its write-ahead log.
func requestsInFileAlone(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", cp)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM requests`).Scan(&n); err != nil {
		return 0 // not even the schema yet
	}
	return n
}

// BenchmarkPollFlowWrites runs the four write transactions of a poll
// flow (the request and its audit event; "shown" and "notified"; the
// decision with two single-use keys; the redemption with two tokens), from
// 64 goroutines at once as the server's handlers do, so that the writer
// groups them. The random and sortable cases differ only in how the
// request and audit event IDs are made: random, or store.NewID's time
// prefix, which keeps the rows of one commit on few index pages.
func BenchmarkPollFlowWrites(b *testing.B) {
	randomID := func(time.Time) string {
		var r [16]byte
		rand.Read(r[:])
		return base64.RawURLEncoding.EncodeToString(r[:])
	}
	for _, c := range []struct {
		name  string
		newID func(time.Time) string
	}{{"random", randomID}, {"sortable", store.NewID}} {
		b.Run(c.name, func(b *testing.B) {
			s := open(b)
			defer s.Close()
			ctx := b.Context()
			var n atomic.Int64
			b.SetParallelism(32) // 64 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := pollFlowWrites(ctx, s, c.newID, n.Add(1)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func pollFlowWrites(ctx context.Context, s *sqlite.Store, newID func(time.Time) string, i int64) error {
	now := time.Now()
	sub := fmt.Sprint("user-", i%320)
	ev := func(kind, reqID string) store.AuditEvent {
		return store.AuditEvent{ID: "ev-" + newID(now), At: now, Kind: kind, RequestID: reqID, ClientID: "client", Subject: sub}
	}
	r := request(int(i))
	r.ID, r.Subject = newID(now), sub
	if err := s.CreateRequest(ctx, r, store.Effects{Audit: []store.AuditEvent{ev("request.created", r.ID)}}); err != nil {
		return err
	}
	shown, notified := ev("request.shown", r.ID), ev("request.notified", r.ID)
	shown.ID, notified.ID = "request.shown:"+r.ID+":device", "request.notified:"+r.ID+":device"
	if err := s.AppendAuditIfAbsent(ctx, shown, notified); err != nil {
		return err
	}
	if _, err := s.UpdateRequest(ctx, r.ID, func(r *store.Request) (store.Effects, error) {
		r.State, r.DecidedAt, r.DeviceID, r.ACR, r.AMR = store.Approved, now, "device", "acr", []string{"hwk"}
		return store.Effects{
			Once:  []store.Once{{Key: fmt.Sprint("jti-a-", i, now.UnixNano()), ExpiresAt: now.Add(time.Minute)}, {Key: fmt.Sprint("jti-b-", i, now.UnixNano()), ExpiresAt: now.Add(time.Minute)}},
			Audit: []store.AuditEvent{ev("request.approved", r.ID)},
		}, nil
	}); err != nil {
		return err
	}
	_, err := s.UpdateRequest(ctx, r.ID, func(r *store.Request) (store.Effects, error) {
		r.State = store.Redeemed
		tok := func(kind store.TokenKind) store.Token {
			h := sha256.Sum256([]byte(fmt.Sprint(kind, r.ID)))
			return store.Token{Hash: h[:], Kind: kind, ClientID: "client", Subject: sub, RequestID: r.ID, FamilyID: r.ID, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		}
		return store.Effects{Tokens: []store.Token{tok(store.AccessToken), tok(store.RefreshToken)}, Audit: []store.AuditEvent{ev("tokens.issued", r.ID)}}, nil
	})
	return err
}
