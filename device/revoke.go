package device

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// Revoke revokes device id at time at, for the admin API and for a
// device that revokes itself. Revoking a revoked device changes nothing
// and is not an error, so a retried revocation succeeds; an unknown
// device is not_found (404).
//
// A stream the device opened before stays open until it ends; streams
// are bounded in time, and every new call is refused.
func Revoke(ctx context.Context, st store.Store, id string, at time.Time) error {
	dev, err := st.Device(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return oauth.Errorf(oauth.NotFound, "no such device").WithCause(err)
	} else if err != nil {
		return fmt.Errorf("load device %q: %w", id, err)
	}
	if !dev.RevokedAt.IsZero() {
		return nil
	}
	if err := st.RevokeDevice(ctx, id, at.UTC()); err != nil {
		return fmt.Errorf("revoke device %q: %w", id, err)
	}
	return nil
}
