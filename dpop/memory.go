package dpop

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/backchannel/backchannel/store"
)

// MemoryJTIStore is a JTIStore in memory, for one process. Several
// instances of a resource server behind a load balancer each keep their
// own, so a proof replayed to another instance within the iat window is
// not caught: such deployments pass a shared store, or require nonces
// (RFC 9449 §11.1). The zero value is ready to use.
type MemoryJTIStore struct {
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time

	mu    sync.Mutex
	seen  map[string]time.Time // key → expiry
	sweep time.Time            // when expired keys were last dropped
}

// UseOnce records key until expiresAt; a key recorded before and not yet
// expired is store.ErrConflict.
func (m *MemoryJTIStore) UseOnce(ctx context.Context, key string, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]time.Time{}
	}
	// Dropping expired keys at most once a second keeps the map as
	// small as the traffic of one iat window.
	if now.Sub(m.sweep) >= time.Second {
		for k, exp := range m.seen {
			if !now.Before(exp) {
				delete(m.seen, k)
			}
		}
		m.sweep = now
	}
	if exp, ok := m.seen[key]; ok && now.Before(exp) {
		return fmt.Errorf("dpop: jti already used: %w", store.ErrConflict)
	}
	m.seen[key] = expiresAt
	return nil
}
