package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// DefaultNoncePeriod is NonceSource.Period when it is zero.
const DefaultNoncePeriod = 5 * time.Minute

// MinNonceSecret is the least length of NonceSource.Secret, in bytes.
const MinNonceSecret = 32

// NonceSource makes and checks the server-provided nonces of RFC 9449 §8
// (token endpoint) and §9 (protected resources) without keeping state:
// a nonce is an HMAC of the current time bucket under Secret, so every
// instance sharing Secret makes and accepts the same nonces, and nothing
// is stored per client. A nonce is accepted during its own bucket and
// the next, so a client that fetched one just before a bucket ended can
// still use it; it lives between Period and twice Period.
//
// Nonces are the same for every client within a bucket. That is enough
// for what RFC 9449 §11.2 asks of them, limiting how far ahead a stolen
// key can pre-compute proofs; the jti cache already stops replays.
type NonceSource struct {
	// Secret keys the HMAC. Required, at least MinNonceSecret bytes, and
	// the same on every instance.
	Secret []byte
	// Period is the length of a time bucket. Defaults to
	// DefaultNoncePeriod.
	Period time.Duration
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// Nonce returns the current nonce, for the DPoP-Nonce header (RFC 9449
// §8.1: a nonce is base64url text).
func (n *NonceSource) Nonce() string {
	return n.at(n.bucket())
}

// Valid reports whether nonce is the nonce of the current or the
// previous bucket.
func (n *NonceSource) Valid(nonce string) bool {
	if len(n.Secret) < MinNonceSecret {
		return false // a misconfigured source accepts nothing
	}
	b := n.bucket()
	for _, k := range []int64{b, b - 1} {
		if hmac.Equal([]byte(nonce), []byte(n.at(k))) {
			return true
		}
	}
	return false
}

func (n *NonceSource) at(bucket int64) string {
	m := hmac.New(sha256.New, n.Secret)
	m.Write([]byte("backchannel dpop nonce\x00"))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(bucket))
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:24])
}

func (n *NonceSource) bucket() int64 {
	period := n.Period
	if period <= 0 {
		period = DefaultNoncePeriod
	}
	now := time.Now()
	if n.Now != nil {
		now = n.Now()
	}
	return now.UnixNano() / int64(period)
}
