package ciba

import (
	"crypto/sha256"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestNumberChoices(t *testing.T) {
	positions := map[int]int{}
	for i := range 2000 {
		h := sha256.Sum256([]byte(strconv.Itoa(i)))
		code, choices := numberChoices(h[:])
		if len(choices) != 3 {
			t.Fatalf("numberChoices(%d) = %v, want 3 choices", i, choices)
		}
		for _, c := range choices {
			if n, err := strconv.Atoi(c); err != nil || n < 10 || n > 99 {
				t.Fatalf("numberChoices(%d) choice %q is not two digits", i, c)
			}
		}
		if choices[0] == choices[1] || choices[1] == choices[2] || choices[0] == choices[2] {
			t.Fatalf("numberChoices(%d) = %v, want distinct choices", i, choices)
		}
		pos := slices.Index(choices, code)
		if pos < 0 {
			t.Fatalf("numberChoices(%d) = %q, %v: the code is not among the choices", i, code, choices)
		}
		positions[pos]++
		if c2, ch2 := numberChoices(h[:]); c2 != code || !slices.Equal(ch2, choices) {
			t.Fatalf("numberChoices(%d) is not deterministic", i)
		}
	}
	// The code's position must not give it away.
	for p := range 3 {
		if n := positions[p]; n < 500 {
			t.Errorf("the code was at position %d only %d times in 2000", p, n)
		}
	}
}

func TestLimiters(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var l limiters
	tests := []struct {
		name  string
		key   string
		at    time.Duration
		limit rate.Limit
		want  bool
	}{
		{"first of burst 2", "a", 0, rate.Every(time.Minute), true},
		{"second of burst 2", "a", 0, rate.Every(time.Minute), true},
		{"over the burst", "a", 0, rate.Every(time.Minute), false},
		{"another key", "b", 0, rate.Every(time.Minute), true},
		{"refilled after a minute", "a", time.Minute, rate.Every(time.Minute), true},
		{"off", "a", time.Minute, 0, true},
	}
	for _, tt := range tests {
		if got := l.allow(tt.key, tt.limit, 2, now.Add(tt.at)); got != tt.want {
			t.Errorf("%s: allow(%q) = %v, want %v", tt.name, tt.key, got, tt.want)
		}
	}
}
