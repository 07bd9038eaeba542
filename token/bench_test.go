package token_test

import (
	"context"
	"testing"

	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/token"
)

// BenchmarkIssue measures minting a CIBA token response: an opaque or JWT
// access token and a signed ID token, per signing algorithm. It bounds the
// token endpoint's rate on a core (docs/performance.md).
func BenchmarkIssue(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA", "PS256"} {
		for _, format := range []string{token.FormatOpaque, token.FormatJWT} {
			b.Run(alg+"/"+format, func(b *testing.B) {
				set, err := keys.Load(context.Background(), &keyStore{}, keys.Config{Algs: []string{alg}})
				if err != nil {
					b.Fatal(err)
				}
				iss := &token.Issuer{Issuer: "https://op.example", Keys: set, AccessTokenFormat: format, Now: fixedNow}
				g := baseGrant()
				g.Client.IDTokenSignedResponseAlg = alg
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := iss.Issue(g); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
