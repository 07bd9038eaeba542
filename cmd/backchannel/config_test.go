package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigLayers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "backchannel.yaml")
	yaml := `
addr: ":9000"
issuer: https://file.example
db: sqlite:/var/lib/bc.db
log: {level: warn}
keys: {algs: [PS256, ES256]}
ciba:
  interval: 7s
  max_binding_message: 40
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"BACKCHANNEL_ISSUER":         "https://env.example",
		"BACKCHANNEL_CIBA_INTERVAL":  "9s",
		"BACKCHANNEL_CIBA_LONG_POLL": "20s",
		"BACKCHANNEL_KEYS_ALGS":      "ES256,EdDSA",
	}
	flags := map[string]any{"issuer": "https://flag.example"}
	cfg, err := loadConfig(path, func(k string) string { return env[k] }, flags)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"addr from the file", cfg.Addr, ":9000"},
		{"issuer: flag over env over file", cfg.Issuer, "https://flag.example"},
		{"interval: env over file", cfg.CIBA.Interval, 9 * time.Second},
		{"binding message from the file", cfg.CIBA.MaxBindingMessage, 40},
		{"log level from the file", cfg.Log.Level, "warn"},
		{"log format default", cfg.Log.Format, "json"},
		{"algs: env list", strings.Join(cfg.Keys.Algs, ","), "ES256,EdDSA"},
		{"expiry default", cfg.CIBA.DefaultExpiry, 5 * time.Minute},
		{"long poll from env", cfg.CIBA.LongPoll, 20 * time.Second},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
}

func TestConfigValidateReportsEverything(t *testing.T) {
	cfg, err := loadConfig("", func(string) string { return "" }, map[string]any{
		"issuer":              "http://plain.example",
		"db":                  "mysql://x",
		"log.level":           "loud",
		"keys.algs":           []string{"HS256"},
		"ciba.interval":       "1500ms",
		"ciba.default_expiry": "2h",
		"ciba.long_poll":      "5m",
	})
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	if err == nil {
		t.Fatal("Validate() = nil for a bad config")
	}
	for _, want := range []string{"must use https", "db \"mysql://x\"", "log.level", "\"HS256\" is not supported", "whole seconds", "default_expiry must not exceed", "ciba.long_poll must be 0 (off) to 60s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v\nwant it to mention %q", err, want)
		}
	}
	// --dev allows a plain-http issuer.
	cfg.Issuer, cfg.Dev = "http://127.0.0.1:8080", true
	if err := cfg.Validate(); err != nil && strings.Contains(err.Error(), "https") {
		t.Errorf("with --dev, Validate() still refuses http: %v", err)
	}
}

func TestConfigFileErrors(t *testing.T) {
	if _, err := loadConfig(filepath.Join(t.TempDir(), "missing.yaml"), func(string) string { return "" }, nil); err == nil {
		t.Error("a missing config file is not an error")
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("ciba: {interval: [1,2]"), 0o600)
	if _, err := loadConfig(bad, func(string) string { return "" }, nil); err == nil {
		t.Error("malformed YAML is not an error")
	}
}

func TestRedactDSN(t *testing.T) {
	tests := map[string]string{
		"sqlite:backchannel-data/backchannel.db":                      "sqlite:backchannel-data/backchannel.db",
		"postgres://bc:s3cret@db.example:5432/bc?sslmode=require":     "postgres://bc:redacted@db.example:5432/bc?sslmode=require",
		"postgres://bc@db.example/bc?password=s3cret&sslmode=disable": "postgres://bc@db.example/bc?password=redacted&sslmode=disable",
		"postgres://db.example/bc?sslpassword=s3cret":                 "postgres://db.example/bc?sslpassword=redacted",
	}
	for in, want := range tests {
		if got := redactDSN(in); got != want {
			t.Errorf("redactDSN(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(redactDSN(in), "s3cret") {
			t.Errorf("redactDSN(%q) leaks the password", in)
		}
	}
}

func TestConfigWebPush(t *testing.T) {
	load := func(env map[string]string) Config {
		t.Helper()
		cfg, err := loadConfig("", func(k string) string { return env[k] }, map[string]any{"issuer": "https://op.example"})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := load(nil)
	if !cfg.Devices.WebPush.Enabled {
		t.Error("devices.web_push.enabled defaults to false, want true")
	}
	if got := cfg.pushSubject(); got != "https://op.example" {
		t.Errorf("pushSubject() = %q, want the https issuer", got)
	}
	cfg = load(map[string]string{"BACKCHANNEL_DEVICES_WEB_PUSH_SUBJECT": "mailto:ops@op.example", "BACKCHANNEL_DEVICES_WEB_PUSH_ENABLED": "false"})
	if cfg.Devices.WebPush.Enabled || cfg.pushSubject() != "mailto:ops@op.example" {
		t.Errorf("web_push from env = %+v, want off with subject mailto:ops@op.example", cfg.Devices.WebPush)
	}
	for _, bad := range []string{"ops@op.example", "mailto:nobody", "http://op.example/contact", "https://"} {
		cfg := load(map[string]string{"BACKCHANNEL_DEVICES_WEB_PUSH_SUBJECT": bad})
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "devices.web_push.subject") {
			t.Errorf("Validate() with subject %q = %v, want it refused", bad, err)
		}
	}
	cfg = load(nil)
	cfg.Issuer, cfg.Dev = "http://127.0.0.1:8080", true
	if got := cfg.pushSubject(); got != "mailto:backchannel@localhost" {
		t.Errorf("pushSubject() with an http issuer = %q, want mailto:backchannel@localhost", got)
	}
}
