package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/backchannel/backchannel/store"
)

// TestClientCacheStaleFill checks that a read which began before a
// change cannot put the old client in the cache after the change.
func TestClientCacheStaleFill(t *testing.T) {
	var cc clientCache
	now := time.Now()
	gen := cc.generation() // a read begins
	cc.drop("a")           // a change to a commits meanwhile
	cc.put(store.Client{ID: "a", Name: "old"}, gen, now)
	if c, ok := cc.get("a", now); ok {
		t.Errorf("get after a fill that began before the change = %q, want a miss", c.Name)
	}
	cc.put(store.Client{ID: "a", Name: "new"}, cc.generation(), now)
	if c, ok := cc.get("a", now); !ok || c.Name != "new" {
		t.Errorf("get = %q, %v, want new", c.Name, ok)
	}
	if _, ok := cc.get("a", now.Add(clientCacheTTL)); ok {
		t.Error("get after clientCacheTTL hit, want a miss")
	}
}

// TestClientCacheOtherProcess checks that a change made through another
// Store on the same file (another process) is seen within
// clientCacheTTL.
func TestClientCacheOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backchannel.db")
	a, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.CreateClient(t.Context(), store.Client{ID: "c", Name: "before"}); err != nil {
		t.Fatal(err)
	}
	if c, err := a.Client(t.Context(), "c"); err != nil || c.Name != "before" {
		t.Fatalf("Client = %q, %v", c.Name, err)
	}
	if err := b.DeleteClient(t.Context(), "c"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(clientCacheTTL + time.Second)
	for {
		if _, err := a.Client(t.Context(), "c"); err != nil {
			return // gone, as it should be
		}
		if time.Now().After(deadline) {
			t.Fatalf("a client deleted through another Store was still served %v later", clientCacheTTL+time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
