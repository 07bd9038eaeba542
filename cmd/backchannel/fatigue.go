package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/store"
)

// fatigue returns the approval-fatigue limits of the config.
func (c *Config) fatigue() ciba.Fatigue {
	return ciba.Fatigue{
		MaxPendingPerUser:       c.CIBA.MaxPendingPerUser,
		MaxPendingPerClientUser: c.CIBA.MaxPendingPerClientUser,
		ClientRate:              rate.Limit(c.CIBA.ClientRate),
		ClientBurst:             c.CIBA.ClientBurst,
		HintRate:                rate.Limit(c.CIBA.HintRate),
		HintBurst:               c.CIBA.HintBurst,
		PollRate:                rate.Limit(c.CIBA.PollRate),
		PollBurst:               c.CIBA.PollBurst,
		NumberMatching:          c.CIBA.NumberMatching,
	}
}

// validateFatigue checks the approval-fatigue limits and the webhook.
func (c *Config) validateFatigue() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	f := c.CIBA
	if f.MaxPendingPerUser < 0 || f.MaxPendingPerClientUser < 0 {
		bad("ciba.max_pending_per_user and ciba.max_pending_per_client_user must not be negative (0 turns them off)")
	}
	if f.ClientRate < 0 || f.HintRate < 0 {
		bad("ciba.client_rate and ciba.hint_rate must not be negative (0 turns them off)")
	}
	if f.PollRate < 0 || (f.PollRate > 0 && f.PollBurst < 1) {
		bad("ciba.poll_rate must not be negative (0 turns it off), and ciba.poll_burst must be at least 1 when it is set")
	}
	if (f.ClientRate > 0 && f.ClientBurst < 1) || (f.HintRate > 0 && f.HintBurst < 1) {
		bad("ciba.client_burst and ciba.hint_burst must be at least 1 when their rate is set")
	}
	w := c.Webhook
	if w.Timeout < 0 || w.Timeout > c.Notify.AttemptTimeout {
		bad("webhook.timeout must be between 0 (notify.attempt_timeout) and notify.attempt_timeout")
	}
	if w.URL == "" {
		if w.Secret != "" || w.SecretFile != "" || w.CertificateSHA256 != "" {
			bad("webhook: secret, secret_file and certificate_sha256 need webhook.url")
		}
		return errs
	}
	if u, err := url.Parse(w.URL); err != nil || u.Host == "" || (u.Scheme != "https" && !(c.Dev && u.Scheme == "http")) {
		bad("webhook.url %q must be an https URL (http only with --dev)", w.URL)
	}
	switch {
	case w.Secret != "" && w.SecretFile != "":
		bad("webhook: set secret or secret_file, not both")
	case w.Secret == "" && w.SecretFile == "":
		bad("webhook.url needs webhook.secret or webhook.secret_file")
	case w.Secret != "" && len(w.Secret) < 32:
		bad("webhook.secret must be at least 32 characters")
	}
	return errs
}

// webhookSecret returns the webhook's HMAC key, from the config or its
// file (trailing white space removed).
func (c *Config) webhookSecret() ([]byte, error) {
	if c.Webhook.SecretFile == "" {
		return []byte(c.Webhook.Secret), nil
	}
	b, err := os.ReadFile(c.Webhook.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("webhook.secret_file: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < 32 {
		return nil, errors.New("webhook.secret_file must hold at least 32 characters")
	}
	return b, nil
}

// webhookTimeout returns the notify.Worker RowTimeout that gives webhook
// rows the timeout d (0: the worker's AttemptTimeout).
func webhookTimeout(d time.Duration) func(store.Outbound) time.Duration {
	return func(row store.Outbound) time.Duration {
		if strings.HasPrefix(row.ID, ciba.WebhookOutboundPrefix) {
			return d
		}
		return 0
	}
}
