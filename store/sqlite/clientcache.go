package sqlite

import (
	"bytes"
	"slices"
	"sync"
	"time"

	"github.com/backchannel/backchannel/store"
)

// The client cache. Every backchannel request, token request and device
// decision reads its client, and those reads were a twelfth of the
// server's CPU in a full flow (docs/performance.md). One server process
// owns an SQLite database (as for the poll schedule in ciba), and its
// client writes all pass through this Store, which drops the entry it
// changes, so the cache is exact for it. A second process on the same
// file, not a set-up for serving, sees another's change within
// clientCacheTTL.
const (
	clientCacheTTL = time.Second
	clientCacheMax = 10_000 // entries; a full cache is emptied
)

type clientCache struct {
	mu  sync.Mutex
	gen uint64 // bumped by every drop: a read that began before it must not fill
	m   map[string]cachedClient
}

type cachedClient struct {
	c    store.Client
	read time.Time
}

// get returns a copy of client id if it was read less than
// clientCacheTTL ago.
func (cc *clientCache) get(id string, now time.Time) (store.Client, bool) {
	cc.mu.Lock()
	e, ok := cc.m[id]
	cc.mu.Unlock()
	if !ok || now.Sub(e.read) >= clientCacheTTL || now.Before(e.read) {
		return store.Client{}, false
	}
	return cloneClient(e.c), true
}

// generation returns what put needs: call it before reading the client.
func (cc *clientCache) generation() uint64 {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.gen
}

// put keeps a copy of c, read at now, unless a client was dropped since
// gen was taken: the read may then predate that change.
func (cc *clientCache) put(c store.Client, gen uint64, now time.Time) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if gen != cc.gen {
		return
	}
	if cc.m == nil || len(cc.m) >= clientCacheMax {
		cc.m = make(map[string]cachedClient)
	}
	cc.m[c.ID] = cachedClient{c: cloneClient(c), read: now}
}

// drop forgets client id; call it once a change to it has committed.
func (cc *clientCache) drop(id string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen++
	delete(cc.m, id)
}

// cloneClient returns c with slices of its own, so that no caller can
// change what another was given.
func cloneClient(c store.Client) store.Client {
	c.SecretHash = bytes.Clone(c.SecretHash)
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.JWKS = bytes.Clone(c.JWKS)
	c.RegistrationAccessTokenHash = bytes.Clone(c.RegistrationAccessTokenHash)
	c.DefaultACRValues = slices.Clone(c.DefaultACRValues)
	return c
}
