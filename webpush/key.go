package webpush

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/backchannel/backchannel/store"
)

// secretName is the store.ServerSecret name of the VAPID private key.
const secretName = "webpush-vapid-p256"

// Key is the server's VAPID key pair (RFC 8292 §3), a P-256 key made once
// and shared by every instance through the store, so that a subscription
// made through one instance is accepted from all.
type Key struct {
	priv *ecdh.PrivateKey
}

// LoadKey returns the VAPID key kept in st, making it first if st has
// none. Instances starting at once all get the same key
// (store.Store.ServerSecret).
func LoadKey(ctx context.Context, st store.Store) (*Key, error) {
	fresh, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make VAPID key: %w", err)
	}
	raw, err := st.ServerSecret(ctx, secretName, fresh.Bytes())
	if err != nil {
		return nil, fmt.Errorf("load VAPID key: %w", err)
	}
	priv, err := ecdh.P256().NewPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("stored VAPID key is not a P-256 key: %w", err)
	}
	return &Key{priv: priv}, nil
}

// ApplicationServerKey is the public key as a device passes it to
// PushManager.subscribe: the uncompressed P-256 point, base64url without
// padding (RFC 8292 §3.2).
func (k *Key) ApplicationServerKey() string {
	return base64.RawURLEncoding.EncodeToString(k.priv.PublicKey().Bytes())
}

// private is the private scalar, base64url, as webpush-go takes it.
func (k *Key) private() string {
	return base64.RawURLEncoding.EncodeToString(k.priv.Bytes())
}
