package device_test

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// FuzzEnrol sends arbitrary enrolment proofs (POST /device/v1/enrol):
// each is refused with an *oauth.Error, or enrols a device of the code's
// user under the proof's name.
func FuzzEnrol(f *testing.F) {
	st := openStore(f, f.TempDir())
	now := time.Now().UTC().Truncate(time.Second)
	enr := &device.Enroller{Store: st, Now: func() time.Time { return now }, BaseURL: issuer}
	key := newKey(f)
	code, _, _, err := enr.NewCode(f.Context(), "alice")
	if err != nil {
		f.Fatal(err)
	}
	good := enrolProof(f, key, code, "Alice's phone")
	f.Add(good)
	f.Add(enrolProof(f, key, strings.ToUpper(code[:8])+" - "+code[8:], "phone"))
	f.Add(enrolProof(f, key, "unknown-code", "phone"))
	f.Add(enrolProof(f, key, code, strings.Repeat("n", 65)))
	f.Add(enrolProof(f, key, code, "rtl \u202e"))
	f.Add(enrolProof(f, key, "", ""))
	f.Add(good[:len(good)-6])
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, proof string) {
		dev, err := enr.Enrol(t.Context(), device.EnrolRequest{Proof: proof})
		if err != nil {
			var oe *oauth.Error
			if !errors.As(err, &oe) || oe.HTTPStatus() >= 500 {
				t.Fatalf("Enrol(%q) = %v, want a client *oauth.Error", proof, err)
			}
			return
		}
		if dev.Subject != "alice" || dev.ID == "" || len(dev.PublicKey) == 0 {
			t.Fatalf("Enrol(%q) = %+v, want a device of alice", proof, dev)
		}
		// The code is spent: issue it again, so that the next run of this
		// input takes the same path (the fuzzer needs a deterministic
		// function to minimise inputs).
		h := sha256.Sum256([]byte(code))
		if err := st.CreateEnrolment(t.Context(), store.Enrolment{CodeHash: h[:], Subject: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	})
}
