package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/store"
)

// DefaultMaxTokenLifetime is used when Config.MaxTokenLifetime is zero. It
// is far longer than anything we sign lives (ID tokens live minutes), so
// that a relying party holding a token signed just before a rotation can
// still find the key.
const DefaultMaxTokenLifetime = 24 * time.Hour

// Config configures a Set.
type Config struct {
	// Algs are the signing algorithms to keep an active key for; the first
	// is the default. Each is one of SigningAlgs. Empty means ES256 only.
	Algs []string
	// MaxTokenLifetime is how long a retired key stays published after it
	// stopped signing: the longest lifetime of anything we sign, plus the
	// interval at which instances call Reload (an instance that has not
	// reloaded yet still signs with the old key). Zero means
	// DefaultMaxTokenLifetime.
	MaxTokenLifetime time.Duration
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// Set holds the server's signing keys: one active key per configured alg,
// which signs, plus retired keys that are still published so that tokens
// they signed can be verified until they expire. It is safe for
// concurrent use.
//
// Keys live in the store, so that every instance of the server signs with
// the same keys; an instance picks up a rotation made by another at its
// next Reload.
type Set struct {
	store       store.Store
	algs        []string
	maxLifetime time.Duration
	now         func() time.Time

	mu   sync.RWMutex
	keys []signingKey // as the store lists them, newest first
}

// signingKey is one loaded store.SigningKey.
type signingKey struct {
	id        string
	alg       string
	priv      jose.JSONWebKey // with kid, alg and use
	createdAt time.Time
	retiredAt time.Time // zero while active
}

// Load returns the Set of keys in s. For each alg of cfg that has no
// active key it generates one and saves it with CreateSigningKey.
func Load(ctx context.Context, s store.Store, cfg Config) (*Set, error) {
	algs := cfg.Algs
	if len(algs) == 0 {
		algs = []string{ES256}
	}
	for i, alg := range algs {
		if !slices.Contains(signingAlgs, alg) {
			return nil, fmt.Errorf("keys: unsupported signing alg %q (want one of %q)", alg, signingAlgs)
		}
		if slices.Contains(algs[:i], alg) {
			return nil, fmt.Errorf("keys: signing alg %q listed twice", alg)
		}
	}
	if cfg.MaxTokenLifetime < 0 {
		return nil, fmt.Errorf("keys: negative MaxTokenLifetime %v", cfg.MaxTokenLifetime)
	}
	k := &Set{
		store:       s,
		algs:        slices.Clone(algs),
		maxLifetime: cfg.MaxTokenLifetime,
		now:         cfg.Now,
	}
	if k.maxLifetime == 0 {
		k.maxLifetime = DefaultMaxTokenLifetime
	}
	if k.now == nil {
		k.now = time.Now
	}
	if err := k.Reload(ctx); err != nil {
		return nil, err
	}
	created := false
	for _, alg := range k.algs {
		if k.active(alg) != nil {
			continue
		}
		sk, err := newSigningKey(alg, k.now())
		if err != nil {
			return nil, err
		}
		err = s.CreateSigningKey(ctx, sk)
		// Another instance starting at the same time may have won a
		// uniqueness constraint of the store; its key will do.
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("create %s signing key: %w", alg, err)
		}
		created = true
	}
	if created {
		if err := k.Reload(ctx); err != nil {
			return nil, err
		}
		for _, alg := range k.algs {
			if k.active(alg) == nil {
				return nil, fmt.Errorf("keys: no active %s key after creating one", alg)
			}
		}
	}
	return k, nil
}

// newSigningKey generates a key for alg as a store record created at now.
func newSigningKey(alg string, now time.Time) (store.SigningKey, error) {
	jwk, err := generate(alg)
	if err != nil {
		return store.SigningKey{}, err
	}
	b, err := jwk.MarshalJSON()
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encode %s key: %w", alg, err)
	}
	return store.SigningKey{ID: jwk.KeyID, Alg: alg, PrivateJWK: b, CreatedAt: now.UTC()}, nil
}

// Reload re-reads the keys from the store, for instance after another
// instance rotated them. On error the Set keeps the keys it had.
func (k *Set) Reload(ctx context.Context) error {
	recs, err := k.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	loaded := make([]signingKey, 0, len(recs))
	for _, r := range recs {
		sk, err := parseSigningKey(r)
		if err != nil {
			return err
		}
		loaded = append(loaded, sk)
	}
	k.mu.Lock()
	k.keys = loaded
	k.mu.Unlock()
	return nil
}

// parseSigningKey decodes a stored key and checks that it is a private
// key fit for its alg.
func parseSigningKey(r store.SigningKey) (signingKey, error) {
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(r.PrivateJWK, &jwk); err != nil {
		return signingKey{}, fmt.Errorf("keys: decode signing key %q: %w", r.ID, err)
	}
	if jwk.IsPublic() {
		return signingKey{}, fmt.Errorf("keys: signing key %q has no private part", r.ID)
	}
	// The record's kid and alg are authoritative; the JWK must fit them.
	jwk.KeyID, jwk.Algorithm, jwk.Use = r.ID, r.Alg, "sig"
	if _, ok := publicKey(jwk, r.Alg); !ok {
		return signingKey{}, fmt.Errorf("keys: signing key %q does not fit alg %s", r.ID, r.Alg)
	}
	return signingKey{id: r.ID, alg: r.Alg, priv: jwk, createdAt: r.CreatedAt, retiredAt: r.RetiredAt}, nil
}

// Rotate makes a new active key for alg with store.RotateSigningKey,
// which retires the previous one; the retired key stays published for
// MaxTokenLifetime. An empty alg rotates every configured alg and returns
// the kid of the default alg's new key.
func (k *Set) Rotate(ctx context.Context, alg string) (string, error) {
	algs := []string{alg}
	if alg == "" {
		algs = k.algs
	} else if !slices.Contains(k.algs, alg) {
		return "", fmt.Errorf("keys: signing alg %q is not configured", alg)
	}
	var kid string
	for i, a := range algs {
		sk, err := newSigningKey(a, k.now())
		if err != nil {
			return "", err
		}
		if err := k.store.RotateSigningKey(ctx, sk); err != nil {
			return "", fmt.Errorf("rotate %s signing key: %w", a, err)
		}
		if i == 0 {
			kid = sk.ID
		}
	}
	if err := k.Reload(ctx); err != nil {
		return "", err
	}
	return kid, nil
}

// Algs returns the configured signing algs, the default first.
func (k *Set) Algs() []string { return slices.Clone(k.algs) }

// DefaultAlg returns the alg Sign uses when given "".
func (k *Set) DefaultAlg() string { return k.algs[0] }

// CanSign reports whether the Set holds an active key for alg ("" means
// DefaultAlg): whether Sign can sign with it. Readiness checks use it.
func (k *Set) CanSign(alg string) bool {
	if alg == "" {
		alg = k.DefaultAlg()
	}
	return k.active(alg) != nil
}

// active returns the active key of alg, or nil. If the store holds more
// than one (two instances raced to create the first), the newest wins;
// the others stay published as they are not retired.
func (k *Set) active(alg string) *signingKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for i := range k.keys {
		if k.keys[i].alg == alg && k.keys[i].retiredAt.IsZero() {
			sk := k.keys[i]
			return &sk
		}
	}
	return nil
}

// Sign returns claims, marshalled as JSON, as a compact JWS signed with
// the active key of alg ("" means DefaultAlg). The protected header has
// the key's kid and alg, and typ when typ is not "" (RFC 7515 §4.1.9;
// "JWT" for ID tokens, "at+jwt" for RFC 9068 access tokens).
func (k *Set) Sign(alg, typ string, claims any) (string, error) {
	if alg == "" {
		alg = k.DefaultAlg()
	}
	// Only configured algs sign: they are what discovery advertises
	// (id_token_signing_alg_values_supported), even if the store still
	// holds an active key of an alg dropped from the configuration.
	if !slices.Contains(k.algs, alg) {
		return "", fmt.Errorf("keys: signing alg %q is not configured", alg)
	}
	sk := k.active(alg)
	if sk == nil {
		return "", fmt.Errorf("keys: no active %s signing key", alg)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("keys: encode claims: %w", err)
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: sk.priv}, opts)
	if err != nil {
		return "", fmt.Errorf("keys: signer for %q: %w", sk.id, err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("keys: sign with %q: %w", sk.id, err)
	}
	return jws.CompactSerialize()
}

// published returns the public halves of the keys that are active or
// were retired less than MaxTokenLifetime ago: active keys first in the
// order of Algs, then retired keys, newest first.
func (k *Set) published() []jose.JSONWebKey {
	now := k.now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	var active, retired []jose.JSONWebKey
	for _, sk := range k.keys {
		switch {
		case sk.retiredAt.IsZero():
			active = append(active, sk.priv.Public())
		case sk.retiredAt.Add(k.maxLifetime).After(now):
			retired = append(retired, sk.priv.Public())
		}
	}
	slices.SortStableFunc(active, func(a, b jose.JSONWebKey) int {
		return algRank(k.algs, a.Algorithm) - algRank(k.algs, b.Algorithm)
	})
	return append(active, retired...)
}

// algRank orders algs as configured, unconfigured ones last.
func algRank(algs []string, alg string) int {
	if i := slices.Index(algs, alg); i >= 0 {
		return i
	}
	return len(algs)
}

// JWKS returns the published public keys as a JWK Set (RFC 7517 §5): the
// active keys and the keys retired less than MaxTokenLifetime ago. Each
// has kid, alg and use "sig"; none has private members. An active key of
// an alg that is no longer configured stays published, since it may have
// signed tokens that are still valid; the store has no way yet to retire
// a key without replacing it.
func (k *Set) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: k.published()}
}

// Verify checks a compact JWS signed by any published key of ours and
// returns its payload. Only the algs of our keys are accepted.
func (k *Set) Verify(token string) ([]byte, error) {
	set := k.JWKS()
	var algs []string
	for _, key := range set.Keys {
		if !slices.Contains(algs, key.Algorithm) {
			algs = append(algs, key.Algorithm)
		}
	}
	_, payload, err := VerifyJWS(token, &set, algs)
	return payload, err
}
