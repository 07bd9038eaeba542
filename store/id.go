package store

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// sortableTime encodes the time prefix of NewID; base32hex keeps the
// byte order of what it encodes.
var sortableTime = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// NewID returns a new identifier for a record: the time in milliseconds
// (10 characters that sort as the times do), then 128 random bits (22
// characters of base64url). Records created together then sit together
// in every index on their ID, so a commit writes a few index pages, not
// one per record; the random part keeps IDs unguessable.
func NewID(now time.Time) string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16) // 48 bits of ms, left-aligned
	rand.Read(b[8:])                                               // never fails (crypto/rand)
	return sortableTime.EncodeToString(b[:6]) + base64.RawURLEncoding.EncodeToString(b[8:])
}
