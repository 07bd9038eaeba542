package ciba

import (
	"strings"
	"testing"
)

func TestCheckBindingMessage(t *testing.T) {
	tests := []struct {
		msg  string
		ok   bool
		name string
	}{
		{"Order 1234", true, "plain"},
		{"注文 ４２", true, "Japanese with full-width digits"},
		{"Café ☕ 12", true, "symbols"},
		{strings.Repeat("x", 64), true, "at the limit"},
		{strings.Repeat("x", 65), false, "over the limit"},
		{strings.Repeat("界", 64), true, "limit counts characters, not bytes"},
		{"", false, "empty"},
		{"   ", false, "blank"},
		{"line\nbreak", false, "newline"},
		{"tab\there", false, "tab"},
		{"rtl \u202e override", false, "bidi override"},
		{"zero\u200bwidth", false, "zero-width space"},
		{"bom\ufeff", false, "byte order mark"},
		{"sep\u2028line", false, "line separator"},
		{"\xff\xfe", false, "invalid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkBindingMessage(tt.msg, 64)
			if (err == nil) != tt.ok {
				t.Errorf("checkBindingMessage(%q) = %v, want ok %v", tt.msg, err, tt.ok)
			}
		})
	}
}

func TestIsB64Token(t *testing.T) {
	tests := map[string]bool{
		"abc123":       true,
		"a-b._~+/c==":  true,
		"8d67dc78-7fa": true,
		"":             false,
		"==":           false,
		"has space":    false,
		"quote\"":      false,
		"a=b":          false,
		"ünicode":      false,
	}
	for in, want := range tests {
		if got := isB64Token(in); got != want {
			t.Errorf("isB64Token(%q) = %v, want %v", in, got, want)
		}
	}
}
