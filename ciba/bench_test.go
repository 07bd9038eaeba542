package ciba_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/backchannel/backchannel/oauth"
)

// BenchmarkStart measures a backchannel request through Service.Start on
// SQLite: the parameters' validation, the user's resolution and the new
// request's row, with a plain login_hint and with a signed request object
// (ES256, its verification and its jti's single use included).
func BenchmarkStart(b *testing.B) {
	b.Run("login_hint", func(b *testing.B) {
		e := newFuzzEnv(b)
		b.ReportAllocs()
		for b.Loop() {
			form := oauth.Form{"scope": "openid", "login_hint": "alice", "binding_message": "Order 42"}
			if _, err := e.svc.Start(context.Background(), e.client, form); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("request_object", func(b *testing.B) {
		e := newFuzzEnv(b)
		objs := make([]string, 0, 1024)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if i%1024 == 0 {
				// Sign outside the timed part: the relying party's cost.
				b.StopTimer()
				objs = objs[:0]
				for j := range 1024 {
					objs = append(objs, e.requestObject(b, "jti-"+strconv.Itoa(i+j), nil))
				}
				b.StartTimer()
			}
			if _, err := e.svc.Start(context.Background(), e.client, oauth.Form{"request": objs[i%1024]}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
