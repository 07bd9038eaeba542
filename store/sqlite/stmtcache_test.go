package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/store/sqlite"
)

// TestStatementCacheNestedQueries runs a cached query again while rows of
// the same query are still open on the same connection, and every query
// many times, so that a statement reused before its rows are closed, or
// not reset after an error, would show.
func TestStatementCacheNestedQueries(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "backchannel.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, id := range []string{"a", "b", "c"} {
		if err := s.CreateClient(t.Context(), store.Client{ID: id, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 {
		// A duplicate fails inside the cached INSERT; the next use of it
		// must still work.
		if err := s.CreateClient(t.Context(), store.Client{ID: "a", CreatedAt: now}); err == nil {
			t.Fatal("CreateClient(duplicate) = nil, want ErrConflict")
		}
		cs, err := s.Clients(t.Context())
		if err != nil || len(cs) != 3 {
			t.Fatalf("Clients() = %d clients, %v; want 3", len(cs), err)
		}
		for _, c := range cs {
			// The same query text as Client's, run while no rows are
			// open, and Clients again inside the loop.
			if _, err := s.Client(t.Context(), c.ID); err != nil {
				t.Fatalf("Client(%q) = %v", c.ID, err)
			}
		}
	}
}
