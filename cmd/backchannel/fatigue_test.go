package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigFatigueAndWebhook(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
	base := map[string]any{"issuer": "https://op.example", "db": "sqlite:x.db"}
	tests := []struct {
		name string
		set  map[string]any
		want string // "" for valid
	}{
		{"defaults", nil, ""},
		{"caps off", map[string]any{"ciba.max_pending_per_user": 0, "ciba.client_rate": 0}, ""},
		{"negative cap", map[string]any{"ciba.max_pending_per_client_user": -1}, "must not be negative"},
		{"negative rate", map[string]any{"ciba.hint_rate": -1}, "must not be negative"},
		{"rate without burst", map[string]any{"ciba.client_burst": 0}, "burst must be at least 1"},
		{"webhook", map[string]any{"webhook.url": "https://bank.example/hook", "webhook.secret_file": secretFile}, ""},
		{"webhook without secret", map[string]any{"webhook.url": "https://bank.example/hook"}, "needs webhook.secret"},
		{"webhook short secret", map[string]any{"webhook.url": "https://bank.example/hook", "webhook.secret": "short"}, "at least 32"},
		{"webhook both secrets", map[string]any{"webhook.url": "https://bank.example/hook", "webhook.secret": strings.Repeat("s", 32), "webhook.secret_file": secretFile}, "not both"},
		{"webhook http", map[string]any{"webhook.url": "http://bank.example/hook", "webhook.secret": strings.Repeat("s", 32)}, "must be an https URL"},
		{"webhook timeout", map[string]any{"webhook.url": "https://bank.example/hook", "webhook.secret_file": secretFile, "webhook.timeout": "3s"}, ""},
		{"webhook timeout too long", map[string]any{"webhook.timeout": "1h"}, "webhook.timeout must be"},
		{"secret without url", map[string]any{"webhook.secret": strings.Repeat("s", 32)}, "need webhook.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags := map[string]any{}
			for k, v := range base {
				flags[k] = v
			}
			for k, v := range tt.set {
				flags[k] = v
			}
			cfg, err := loadConfig("", func(string) string { return "" }, flags)
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	cfg, _ := loadConfig("", func(string) string { return "" }, map[string]any{"webhook.secret_file": secretFile})
	if s, err := cfg.webhookSecret(); err != nil || string(s) != "0123456789abcdef0123456789abcdef" {
		t.Errorf("webhookSecret() = %q, %v", s, err)
	}
	if f := cfg.fatigue(); f.MaxPendingPerUser != 5 || f.MaxPendingPerClientUser != 2 || f.ClientBurst != 50 || f.HintBurst != 5 {
		t.Errorf("fatigue() = %+v, want the defaults 5, 2, burst 50 and 5", f)
	}
}
