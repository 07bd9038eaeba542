package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel/store"
)

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	key := func(id, alg string, created time.Duration, retired bool) store.SigningKey {
		k := fullSigningKey(id, alg)
		k.CreatedAt = at(created)
		if !retired {
			k.RetiredAt = time.Time{}
		}
		return k
	}
	oldest := key("k1", "ES256", 0, true)
	middle := key("k2", "ES256", time.Hour, false)
	newest := key("k0", "RS256", 2*time.Hour, false)
	for _, k := range []store.SigningKey{middle, newest, oldest} {
		must(t, s.CreateSigningKey(ctx, k))
	}
	got, err := s.SigningKeys(ctx)
	if err != nil {
		t.Fatalf("SigningKeys() = %v", err)
	}
	if d := diff([]store.SigningKey{newest, middle, oldest}, got); d != "" {
		t.Errorf("SigningKeys() mismatch (-want +got):\n%s", d)
	}
}

func testSigningKeyDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	ks, err := s.SigningKeys(ctx)
	if err != nil || ks != nil {
		t.Errorf("SigningKeys() of an empty store = %v, %v, want nil, nil", ks, err)
	}
	active := fullSigningKey("k1", "ES256")
	active.RetiredAt = time.Time{}
	must(t, s.CreateSigningKey(ctx, active))
	wantErr(t, `CreateSigningKey("k1") again`, s.CreateSigningKey(ctx, fullSigningKey("k1", "PS256")), store.ErrConflict)

	second := fullSigningKey("k2", "ES256")
	second.RetiredAt = time.Time{}
	wantErr(t, "CreateSigningKey(second active ES256 key)", s.CreateSigningKey(ctx, second), store.ErrConflict)
	// Retired keys and active keys of other algs are fine.
	must(t, s.CreateSigningKey(ctx, fullSigningKey("k3", "ES256")))
	other := fullSigningKey("k4", "EdDSA")
	other.RetiredAt = time.Time{}
	must(t, s.CreateSigningKey(ctx, other))
}

// activeKeys returns the IDs of the active keys, by alg.
func activeKeys(t *testing.T, s store.Store) map[string][]string {
	t.Helper()
	ks, err := s.SigningKeys(t.Context())
	if err != nil {
		t.Fatalf("SigningKeys() = %v", err)
	}
	active := map[string][]string{}
	for _, k := range ks {
		if k.RetiredAt.IsZero() {
			active[k.Alg] = append(active[k.Alg], k.ID)
		}
	}
	return active
}

func testRotateSigningKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	key := func(id, alg string, created time.Duration) store.SigningKey {
		k := fullSigningKey(id, alg)
		k.CreatedAt = at(created)
		k.RetiredAt = time.Time{}
		return k
	}
	es1, rs1 := key("es1", "ES256", 0), key("rs1", "RS256", time.Minute)
	must(t, s.CreateSigningKey(ctx, es1))
	must(t, s.CreateSigningKey(ctx, rs1))

	es2 := key("es2", "ES256", time.Hour)
	must(t, s.RotateSigningKey(ctx, es2))
	ed1 := key("ed1", "EdDSA", 2*time.Hour) // no EdDSA key yet
	must(t, s.RotateSigningKey(ctx, ed1))

	retired := es1
	retired.RetiredAt = es2.CreatedAt
	got, err := s.SigningKeys(ctx)
	if err != nil {
		t.Fatalf("SigningKeys() = %v", err)
	}
	if d := diff([]store.SigningKey{ed1, es2, rs1, retired}, got); d != "" {
		t.Errorf("SigningKeys() after rotations mismatch (-want +got):\n%s", d)
	}
}

func testRotateSigningKeyAtomic(t *testing.T, s store.Store) {
	ctx := t.Context()
	es1 := fullSigningKey("es1", "ES256")
	es1.RetiredAt = time.Time{}
	must(t, s.CreateSigningKey(ctx, es1))
	// A new key whose ID is taken: the rotation fails as a whole, so the
	// old key stays active.
	clash := fullSigningKey("es1", "ES256")
	clash.CreatedAt = at(time.Hour)
	clash.RetiredAt = time.Time{}
	wantErr(t, "RotateSigningKey(existing ID)", s.RotateSigningKey(ctx, clash), store.ErrConflict)
	got, err := s.SigningKeys(ctx)
	if err != nil {
		t.Fatalf("SigningKeys() = %v", err)
	}
	if d := diff([]store.SigningKey{es1}, got); d != "" {
		t.Errorf("SigningKeys() after a failed rotation (-want +got):\n%s", d)
	}
}

func testRotateSigningKeyConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k := fullSigningKey(fmt.Sprint("k", i), "ES256")
			k.CreatedAt = at(time.Duration(i) * time.Second)
			k.RetiredAt = time.Time{}
			errs[i] = s.RotateSigningKey(ctx, k)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("RotateSigningKey #%d = %v", i, err)
		}
	}
	active := activeKeys(t, s)
	if len(active["ES256"]) != 1 {
		t.Errorf("active ES256 keys after %d concurrent rotations = %v, want one", n, active["ES256"])
	}
}
