package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/backchannel/backchannel/clientauth"
	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// The demo records --dev creates.
const (
	demoClientID = "demo-client"
	demoUserSub  = "demo-user"
)

// printDevSetup creates the demo user, a fresh demo client and a device
// enrolment code, prints everything needed to try the flow, and returns
// the demo client's secret for the demo console.
func printDevSetup(ctx context.Context, w io.Writer, st store.Store, enr *device.Enroller, cfg Config, adminURL, adminToken string) (string, error) {
	now := time.Now().UTC()
	claims, _ := json.Marshal(map[string]any{"name": "Demo User", "given_name": "Demo", "family_name": "User", "email_verified": true})
	err := st.CreateUser(ctx, store.User{
		Subject:           demoUserSub,
		PreferredUsername: "demo",
		Email:             "demo@example.com",
		PhoneNumber:       "+15555550100",
		Claims:            claims,
		CreatedAt:         now,
	})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return "", fmt.Errorf("create demo user: %w", err)
	}
	// The secret is stored hashed, so the demo client is made anew on
	// every start to be able to print a working secret.
	if err := st.DeleteClient(ctx, demoClientID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("replace demo client: %w", err)
	}
	secret, hash, err := clientauth.NewSecret()
	if err != nil {
		return "", err
	}
	err = st.CreateClient(ctx, store.Client{
		ID:                      demoClientID,
		Name:                    "Demo Call Centre",
		SecretHash:              hash,
		GrantTypes:              []string{oauth.GrantCIBA, oauth.GrantRefresh},
		TokenEndpointAuthMethod: oauth.AuthSecretBasic,
		DeliveryMode:            store.Poll,
		CreatedAt:               now,
	})
	if err != nil {
		return "", fmt.Errorf("create demo client: %w", err)
	}
	code, link, expires, err := enr.NewCode(ctx, demoUserSub)
	if err != nil {
		return "", fmt.Errorf("create demo enrolment code: %w", err)
	}
	fmt.Fprintf(w, `
backchannel --dev: a development server with demo data. Not for production.

  issuer           %s
  admin URL        %s
  admin token      %s
  demo user        sub %s, login_hint "demo" or demo@example.com
  demo client      client_id %s
                   client_secret %s
  device enrolment code %s (single use, until %s)
                   %s
  demo console     %s/demo

The enrolment link as a QR code, for a phone's camera (the phone must
reach this server on https under a domain name; see the README):

%s

Try it, in two more terminals:

  export BACKCHANNEL_ADMIN_URL=%s BACKCHANNEL_ADMIN_TOKEN=%s
  go run ./cmd/backchannel device register --server %s --code %s --key-file device.json
  go run ./cmd/backchannel device watch --key-file device.json --approve

  go run ./cmd/backchannel login --issuer %s --client-id %s --client-secret %s --login-hint demo --binding-message "Order 1234"

`, cfg.Issuer, adminURL, adminToken, demoUserSub, demoClientID, secret,
		code, expires.Format(time.RFC3339), link, cfg.Issuer, qrText(link),
		adminURL, adminToken, cfg.Issuer, code,
		cfg.Issuer, demoClientID, secret)
	return secret, nil
}

// qrText is link as a terminal QR code, or a note when it cannot be drawn.
func qrText(link string) string {
	qr, err := device.QRText(link)
	if err != nil {
		return "  (no QR code: " + err.Error() + ")"
	}
	return qr
}
