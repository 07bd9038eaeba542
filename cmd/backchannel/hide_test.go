package main

import "testing"

func TestHideUnknownUsersConfig(t *testing.T) {
	for env, want := range map[string]bool{"": false, "true": true} {
		cfg, err := loadConfig("", func(k string) string {
			if k == "BACKCHANNEL_CIBA_HIDE_UNKNOWN_USERS" {
				return env
			}
			return ""
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.CIBA.HideUnknownUsers != want {
			t.Errorf("BACKCHANNEL_CIBA_HIDE_UNKNOWN_USERS=%q: HideUnknownUsers = %v, want %v", env, cfg.CIBA.HideUnknownUsers, want)
		}
	}
}
