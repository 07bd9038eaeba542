// Package storetest checks that a store.Store behaves as the store package
// documents. Each backend's tests call Run, in the manner of
// testing/slogtest.Run:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "backchannel.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// Besides the behaviour the store package documents, Run holds every
// backend to these conventions, so that callers see one behaviour:
//
//   - Times come back in UTC, equal to the instant stored, to the
//     microsecond at least (PostgreSQL's timestamptz precision). The zero
//     time comes back as the zero time.
//   - A nil or empty []string, []byte or json.RawMessage comes back as
//     nil. A json.RawMessage comes back as equal JSON, not necessarily the
//     same bytes (a backend may store it as jsonb).
//   - Lists come back nil when there is nothing to list.
//   - Delete and revoke methods return store.ErrNotFound for a missing
//     record.
//   - UserByHint returns store.ErrConflict when the hint names two users,
//     and store.ErrNotFound for an empty hint.
//   - UpdateUser, UpdateRequest and UpdateToken return the error of
//     change or decide as it is, so that errors.Is and errors.As see it,
//     and UpdateRequest and UpdateToken return store.ErrConflict for an
//     effect whose token hash or outbound ID exists.
//   - UpdateToken refuses a decide that changes the token's Hash.
//   - FinishOutbound refuses a state other than Delivered or Failed.
//   - CreateSigningKey returns store.ErrConflict for a second active key
//     of one alg.
//   - RedeemEnrolment gives the device the enrolment's subject.
//
// Package storetest imports store and nothing else from this module.
package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/store"
)

// Run runs every check as a subtest, each against a new, empty, migrated
// store made by open. Run closes each store it is given.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	checks := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"ClientRoundTrip", testClientRoundTrip},
		{"ClientMissing", testClientMissing},
		{"ClientDuplicate", testClientDuplicate},
		{"UpdateClient", testUpdateClient},
		{"UserRoundTrip", testUserRoundTrip},
		{"UserMissing", testUserMissing},
		{"UserDuplicate", testUserDuplicate},
		{"UserEmptyHintFieldsDoNotCollide", testUserEmptyHintFields},
		{"UserByHint", testUserByHint},
		{"UpdateUser", testUpdateUser},
		{"UpdateUserChangeErrorSavesNothing", testUpdateUserChangeError},
		{"UpdateUserConflict", testUpdateUserConflict},
		{"UpdateUserLosesNoUpdate", testUpdateUserConcurrent},
		{"RequestRoundTrip", testRequestRoundTrip},
		{"RequestMissing", testRequestMissing},
		{"RequestDuplicate", testRequestDuplicate},
		{"UpdateRequest", testUpdateRequest},
		{"UpdateRequestOneFieldAtATime", testUpdateRequestOneField},
		{"UpdateRequestDecideErrorSavesNothing", testUpdateRequestDecideError},
		{"UpdateRequestDuplicateTokenSavesNothing", testUpdateRequestDuplicateToken},
		{"UpdateRequestSerialized", testUpdateRequestSerialized},
		{"UpdateRequestDecidePanics", testDecidePanic},
		{"RedeemExactlyOnce", testRedeemExactlyOnce},
		{"PendingRequests", testPendingRequests},
		{"ExpiringRequests", testExpiringRequests},
		{"TokenRoundTrip", testTokenRoundTrip},
		{"UpdateToken", testUpdateToken},
		{"UpdateTokenMissing", testUpdateTokenMissing},
		{"UpdateTokenDecideErrorSavesNothing", testUpdateTokenDecideError},
		{"UpdateTokenSaveErrorSavesNothing", testUpdateTokenSaveError},
		{"RefreshExactlyOnce", testRefreshExactlyOnce},
		{"RevokeFamily", testRevokeFamily},
		{"OutboundRoundTrip", testOutboundRoundTrip},
		{"OutboundByRequest", testOutboundByRequest},
		{"OutboundDuplicateSavesNothing", testOutboundDuplicate},
		{"OutboundCommitsWithUpdate", testOutboundWithUpdate},
		{"ClaimOutbound", testClaimOutbound},
		{"ClaimOutboundExactlyOnce", testClaimOutboundExactlyOnce},
		{"RetryOutbound", testRetryOutbound},
		{"FinishOutbound", testFinishOutbound},
		{"OutboundOutcomeWithAudit", testOutboundAudit},
		{"OutboxCanceledContext", testOutboxCanceledContext},
		{"RedeemEnrolment", testRedeemEnrolment},
		{"RedeemEnrolmentExpired", testRedeemEnrolmentExpired},
		{"RedeemEnrolmentDuplicateDevice", testRedeemEnrolmentDuplicateDevice},
		{"RedeemEnrolmentExactlyOnce", testRedeemEnrolmentConcurrent},
		{"EnrolmentDuplicate", testEnrolmentDuplicate},
		{"Devices", testDevices},
		{"RevokeDevice", testRevokeDevice},
		{"Passkeys", testPasskeys},
		{"PasskeyChallengeOnce", testPasskeyChallengeOnce},
		{"PasskeyDuplicate", testPasskeyDuplicate},
		{"SigningKeys", testSigningKeys},
		{"SigningKeyDuplicate", testSigningKeyDuplicate},
		{"RotateSigningKey", testRotateSigningKey},
		{"RotateSigningKeyAtomic", testRotateSigningKeyAtomic},
		{"RotateSigningKeyConcurrent", testRotateSigningKeyConcurrent},
		{"UseOnce", testUseOnce},
		{"UseOnceAfterExpiry", testUseOnceAfterExpiry},
		{"UseOnceExactlyOnce", testUseOnceConcurrent},
		{"TimesAreUTC", testTimesAreUTC},
		{"EmptyValuesReadAsNil", testEmptyValues},
		{"CanceledContext", testCanceledContext},
		{"WaitingWriterHonoursContext", testWaitingWriter},
		{"AuditRoundTrip", testAuditRoundTrip},
		{"AuditCommitsWithUpdate", testAuditWithUpdate},
		{"AppendAuditIfAbsent", testAppendAuditIfAbsent},
		{"OnceCommitsWithUpdate", testOnceWithUpdate},
		{"CreateRequestWithEffects", testCreateRequestWithEffects},
		{"PushSubscription", testPushSubscription},
		{"PushSubscriptionRevoked", testPushSubscriptionRevoked},
		{"ServerSecret", testServerSecret},
		{"ServerSecretOnceAcrossInstances", testServerSecretConcurrent},
		{"Purge", testPurge},
		{"PurgeBounded", testPurgeBounded},
		{"Ping", testPing},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close() = %v", err)
				}
			})
			c.fn(t, s)
		})
	}
	t.Run("Close", func(t *testing.T) {
		s := open(t)
		if err := s.Close(); err != nil {
			t.Fatalf("Close() = %v, want nil", err)
		}
		if err := s.Ping(t.Context()); err == nil {
			t.Errorf("Ping() after Close = nil, want an error")
		}
	})
}

// t0 is the suite's reference time. It has sub-second precision, to the
// microsecond, which every backend must keep.
var t0 = time.Date(2030, time.March, 14, 15, 9, 26, 535897000, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// hash returns SHA-256 of s, as the store's callers hash secrets.
func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// cmpOptions compare records as the conventions in the package comment
// allow: times by instant and location, JSON by value.
var cmpOptions = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool {
		return a.Equal(b) && a.Location() == b.Location()
	}),
	cmp.Comparer(jsonEqual),
}

// jsonEqual reports whether a and b are equal JSON values, or both nil.
func jsonEqual(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// diff returns a diff of want and got, or "" if they are equal.
func diff(want, got any) string {
	return cmp.Diff(want, got, cmpOptions)
}

// must fails the test now if err is not nil.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr reports an error unless errors.Is(err, target). call names the
// call that returned err, for the message.
func wantErr(t *testing.T, call string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s = %v, want %v", call, err, target)
	}
}

// wins counts the nil errors in errs and reports an error for each
// non-nil one that is not target.
func wins(t *testing.T, errs []error, target error) int {
	t.Helper()
	n := 0
	for _, err := range errs {
		switch {
		case err == nil:
			n++
		case !errors.Is(err, target):
			t.Errorf("losing call = %v, want %v", err, target)
		}
	}
	return n
}

// The full* functions return records with every field set to a
// non-zero value, so that a round trip checks every column.

func fullClient(id string) store.Client {
	return store.Client{
		ID:                           id,
		Name:                         "Client " + id,
		SecretHash:                   hash("secret of " + id),
		Secret:                       "plain secret of " + id,
		GrantTypes:                   []string{"urn:openid:params:grant-type:ciba", "refresh_token"},
		Scope:                        "openid profile email",
		TokenEndpointAuthMethod:      "private_key_jwt",
		TokenEndpointAuthSigningAlg:  "PS256",
		JWKS:                         json.RawMessage(`{"keys":[{"kty":"EC","crv":"P-256","x":"eA","y":"eQ"}]}`),
		JWKSURI:                      "https://rp.example/" + id + "/jwks",
		DeliveryMode:                 store.Ping,
		NotificationEndpoint:         "https://rp.example/" + id + "/cb",
		RequestSigningAlg:            "ES256",
		UserCodeParameter:            true,
		TLSClientAuthSubjectDN:       "CN=" + id + ",O=Example",
		TLSClientAuthSANDNS:          id + ".rp.example",
		TLSClientAuthSANURI:          "https://rp.example/" + id,
		TLSClientAuthSANIP:           "192.0.2.7",
		TLSClientAuthSANEmail:        id + "@rp.example",
		IDTokenSignedResponseAlg:     "ES256",
		CertificateBoundAccessTokens: true,
		DPoPBoundAccessTokens:        true,
		Profile:                      "fapi-ciba",
		LogoURI:                      "https://rp.example/" + id + "/logo.png",
		SoftwareID:                   "software of " + id,
		RegistrationAccessTokenHash:  hash("registration access token of " + id),
		DefaultACRValues:             []string{"urn:example:acr:" + id, "urn:example:acr:other"},
		CreatedAt:                    at(-24 * time.Hour),
	}
}

func fullUser(sub string) store.User {
	return store.User{
		Subject:           sub,
		PreferredUsername: sub + ".name",
		Email:             sub + "@example.com",
		PhoneNumber:       "+44 " + sub,
		Claims:            json.RawMessage(`{"name":"User ` + sub + `","given_name":"User","email_verified":true}`),
		UserCodeHash:      hash("user code of " + sub),
		UserCodeFailures:  2,
		CreatedAt:         at(-48 * time.Hour),
	}
}

func fullRequest(id, sub string) store.Request {
	return store.Request{
		ID:                   id,
		AuthReqHash:          hash("auth_req_id of " + id),
		ClientID:             "client-1",
		Subject:              sub,
		State:                store.Pending,
		Scopes:               []string{"openid", "profile"},
		ACRValues:            []string{"urn:example:acr:high", "urn:example:acr:low"},
		Binding:              "Pay 42 EUR at " + id,
		NotificationToken:    "notification token of " + id,
		AuthReqID:            "auth_req_id of " + id,
		DeliveryMode:         store.Push,
		CreatedAt:            t0,
		ExpiresAt:            at(5 * time.Minute),
		Interval:             5 * time.Second,
		NextPollAt:           at(5 * time.Second),
		DecidedAt:            at(time.Minute),
		DeviceID:             "device-of-" + sub,
		ACR:                  "urn:example:acr:high",
		AMR:                  []string{"hwk", "user"},
		Decision:             "eyJhbGciOiJFUzI1NiJ9.eyJkZWNpc2lvbiI6ImFwcHJvdmUifQ.c2ln",
		AuthorizationDetails: json.RawMessage(`[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"42.00"}}]`),
	}
}

func fullToken(name, requestID string) store.Token {
	return store.Token{
		Hash:                 hash(name),
		Kind:                 store.RefreshToken,
		ClientID:             "client-1",
		Subject:              "alice",
		Scopes:               []string{"openid", "offline_access"},
		RequestID:            requestID,
		FamilyID:             "family of " + requestID,
		AuthTime:             at(time.Minute),
		ACR:                  "urn:example:acr:high",
		AMR:                  []string{"hwk", "face"},
		IssuedAt:             at(2 * time.Minute),
		ExpiresAt:            at(30 * 24 * time.Hour),
		UsedAt:               at(3 * time.Minute),
		RevokedAt:            at(4 * time.Minute),
		AuthorizationDetails: json.RawMessage(`[{"type":"account_information","actions":["read"]}]`),
		JKT:                  "jkt of " + name,
		X5TS256:              "x5t of " + name,
	}
}

func fullDevice(id string) store.Device {
	return store.Device{
		ID:        id,
		Subject:   "alice",
		Name:      "Phone " + id,
		PublicKey: json.RawMessage(`{"kty":"EC","crv":"P-256","x":"` + id + `","y":"eQ"}`),
		CreatedAt: at(time.Hour),
		RevokedAt: at(2 * time.Hour),
	}
}

func fullEnrolment(code, sub string) store.Enrolment {
	return store.Enrolment{
		CodeHash:  hash(code),
		Subject:   sub,
		CreatedAt: t0,
		ExpiresAt: at(10 * time.Minute),
	}
}

func fullSigningKey(id, alg string) store.SigningKey {
	return store.SigningKey{
		ID:         id,
		Alg:        alg,
		PrivateJWK: json.RawMessage(`{"kty":"EC","crv":"P-256","kid":"` + id + `","d":"ZA","x":"eA","y":"eQ"}`),
		CreatedAt:  t0,
		RetiredAt:  at(time.Hour),
	}
}
