package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRegistrationConfig(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "iat.txt")
	if err := os.WriteFile(tokens, []byte("# comment\ntoken-from-the-file-0001\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := filepath.Join(dir, "backchannel.yaml")
	if err := os.WriteFile(yaml, []byte(`
issuer: https://login.example
db: sqlite:/tmp/x.db
registration:
  enabled: true
  initial_access_tokens: [token-from-the-config-01]
  initial_access_tokens_file: `+tokens+`
fapi: {require: true}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(yaml, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	if !cfg.Registration.Enabled || cfg.Registration.Open || !cfg.FAPI.Require {
		t.Errorf("registration, fapi = %+v, %+v", cfg.Registration, cfg.FAPI)
	}

	bad, err := loadConfig("", func(k string) string {
		return map[string]string{
			"BACKCHANNEL_REGISTRATION_ENABLED":                    "true",
			"BACKCHANNEL_REGISTRATION_INITIAL_ACCESS_TOKENS":      "short",
			"BACKCHANNEL_REGISTRATION_REQUIRE_SOFTWARE_STATEMENT": "true",
		}[k]
	}, map[string]any{"issuer": "https://login.example", "db": "sqlite:x.db"})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Validate()
	for _, want := range []string{"initial_access_tokens[0] must be at least 16", "require_software_statement needs software_statement_issuers"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}

	closed, _ := loadConfig("", func(k string) string {
		return map[string]string{"BACKCHANNEL_REGISTRATION_ENABLED": "true"}[k]
	}, map[string]any{"issuer": "https://login.example", "db": "sqlite:x.db"})
	if err := closed.Validate(); err == nil || !strings.Contains(err.Error(), "set open: true") {
		t.Errorf("closed registration without tokens: Validate() = %v", err)
	}
}
