package token

import (
	"encoding/json"

	"github.com/backchannel/backchannel/store"
)

// ReleasedClaims returns the user's claims that scopes release (OIDC Core
// §5.4), for the ID token and userinfo.
func ReleasedClaims(u store.User, scopes []string) map[string]any {
	all := map[string]any{}
	if len(u.Claims) > 0 {
		_ = json.Unmarshal(u.Claims, &all) // validated on create
	}
	if u.PreferredUsername != "" {
		all["preferred_username"] = u.PreferredUsername
	}
	if u.Email != "" {
		all["email"] = u.Email
	}
	if u.PhoneNumber != "" {
		all["phone_number"] = u.PhoneNumber
	}
	byScope := map[string][]string{
		"profile": {"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username", "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"},
		"email":   {"email", "email_verified"},
		"phone":   {"phone_number", "phone_number_verified"},
		"address": {"address"},
	}
	out := map[string]any{}
	for _, sc := range scopes {
		for _, name := range byScope[sc] {
			if v, ok := all[name]; ok {
				out[name] = v
			}
		}
	}
	return out
}
